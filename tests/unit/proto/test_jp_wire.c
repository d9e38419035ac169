/*
 * test_jp_wire.c - unit tests for proto/jp_wire.c: decoding (identities, buffers, the
 * delimiter, frame counts, dicts that are not objects, invalid JSON, missing msg_type,
 * signatures checked before parsing, replay, size limits), encoding (frame layout, compact
 * UTF-8 JSON, a known signature), encode/decode round trips, and out-of-memory behaviour:
 * each allocation made by decode and encode is failed in turn and must give a clean error
 * and no leak. Does not test jp_hmac's algorithm (test_jp_hmac.c has the known answers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "failalloc.h"
#include "jp_alloc.h"
#include "jp_err.h"
#include "jp_hmac.h"
#include "jp_msg.h"
#include "jp_wire.h"

#define KEY "4f9c6b1e-2d1f-4c3a-9b7e-0123456789ab"
#define HEADER                                                                                     \
    "{\"msg_id\":\"m1\",\"msg_type\":\"kernel_info_request\",\"username\":\"u\",\"session\":"      \
    "\"s\",\"date\":\"2026-11-29T02:53:06.123456Z\",\"version\":\"5.3\"}"
/* python3: hmac.new(KEY, HEADER + b"{}{}{}", hashlib.sha256).hexdigest() */
#define HEADER_SIG "0512a9777d8071dcf93363541597dcf326488b1ca2fb8caee0efeb19181596bd"

struct fvec {
    struct jp_frame f[64];
    size_t n;
};

static void push(struct fvec *v, const void *data, size_t len)
{
    assert_true(v->n < 64);
    v->f[v->n].data = (void *)(uintptr_t)data;
    v->f[v->n].len = len;
    v->n++;
}

static void pushs(struct fvec *v, const char *s)
{
    push(v, s, strlen(s));
}

/* Delimiter, a signature made with s over the four dicts (kept in sig), then the dicts. */
static void push_signed(struct fvec *v, const struct jp_signer *s, char sig[JP_SIG_HEX_LEN + 1],
                        const char *h, const char *p, const char *md, const char *c)
{
    const void *parts[4] = {h, p, md, c};
    size_t lens[4] = {strlen(h), strlen(p), strlen(md), strlen(c)};

    assert_int_equal(jp_signer_sign(s, parts, lens, sig), 0);
    pushs(v, JP_WIRE_DELIM);
    pushs(v, sig);
    pushs(v, h);
    pushs(v, p);
    pushs(v, md);
    pushs(v, c);
}

static struct jp_signer *nokey(void)
{
    struct jp_signer *s = jp_signer_new(NULL, 0, 0);

    assert_non_null(s);
    return s;
}

static struct jp_signer *withkey(size_t history)
{
    struct jp_signer *s = jp_signer_new(KEY, strlen(KEY), history);

    assert_non_null(s);
    return s;
}

/* Decode expecting rc; on failure check *out was not touched and a reason was given. */
static struct jp_msg *decode_expect(const struct fvec *v, struct jp_signer *s,
                                    const struct jp_wire_limits *lim, int want)
{
    struct jp_msg *sentinel = (struct jp_msg *)(uintptr_t)0x1234, *m = sentinel;
    struct jp_wire_error err;
    int rc;

    memset(err.text, 'Z', sizeof err.text);
    rc = jp_wire_decode(v->f, v->n, s, lim, &m, &err);
    if (rc != want)
        print_error("decode: got %d (%s), reason \"%s\"\n", rc, jp_strerror(rc), err.text);
    assert_int_equal(rc, want);
    assert_non_null(memchr(err.text, '\0', sizeof err.text));
    if (rc < 0) {
        assert_ptr_equal(m, sentinel);
        assert_true(err.text[0] != '\0');
        return NULL;
    }
    assert_ptr_not_equal(m, sentinel);
    return m;
}

static void test_jp_wire_decode_minimal_unsigned(void **state)
{
    struct jp_signer *s = nokey();
    struct fvec v = {.n = 0};
    struct jp_msg *m;

    (void)state;
    pushs(&v, JP_WIRE_DELIM);
    pushs(&v, "");
    pushs(&v, "{\"msg_type\":\"status\"}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "{\"execution_state\":\"idle\"}");
    m = decode_expect(&v, s, NULL, 0);
    assert_string_equal(jp_msg_type(m), "status");
    assert_int_equal(m->n_idents, 0);
    assert_null(m->idents);
    assert_int_equal(m->n_buffers, 0);
    assert_null(m->buffers);
    assert_int_equal(json_object_size(m->parent_header), 0);
    assert_string_equal(json_string_value(json_object_get(m->content, "execution_state")), "idle");
    jp_msg_free(m);
    jp_signer_free(s);
}

static void test_jp_wire_decode_signed_known_answer(void **state)
{
    struct jp_signer *s = withkey(16);
    struct fvec v = {.n = 0};
    struct jp_msg *m;

    (void)state;
    pushs(&v, JP_WIRE_DELIM);
    pushs(&v, HEADER_SIG);
    pushs(&v, HEADER);
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    m = decode_expect(&v, s, NULL, 0);
    assert_string_equal(jp_msg_type(m), "kernel_info_request");
    assert_string_equal(jp_msg_id(m), "m1");
    jp_msg_free(m);
    /* the same frames again are a replay */
    decode_expect(&v, s, NULL, JP_EREPLAY);
    jp_signer_free(s);
}

static void test_jp_wire_decode_identities(void **state)
{
    struct jp_signer *s = withkey(0);
    struct fvec v = {.n = 0};
    char sig[JP_SIG_HEX_LEN + 1];
    unsigned char id0[5] = {0, 0x80, 0x00, 0x41, 0xa7};
    struct jp_msg *m;

    (void)state;
    push(&v, id0, sizeof id0);
    pushs(&v, "");
    pushs(&v, "second");
    push_signed(&v, s, sig, "{\"msg_type\":\"x\"}", "{}", "{}", "{}");
    m = decode_expect(&v, s, NULL, 0);
    assert_int_equal(m->n_idents, 3);
    assert_int_equal(m->idents[0].len, 5);
    assert_memory_equal(m->idents[0].data, id0, 5);
    assert_ptr_not_equal(m->idents[0].data, id0); /* a copy */
    assert_int_equal(m->idents[1].len, 0);
    assert_int_equal(m->idents[2].len, 6);
    assert_memory_equal(m->idents[2].data, "second", 6);
    jp_msg_free(m);
    jp_signer_free(s);
}

static void test_jp_wire_decode_buffers(void **state)
{
    struct jp_signer *s = withkey(0);
    struct fvec v = {.n = 0};
    char sig[JP_SIG_HEX_LEN + 1];
    unsigned char bin[3] = {0, 255, 0};
    struct jp_msg *m;

    (void)state;
    pushs(&v, "ident");
    push_signed(&v, s, sig, "{\"msg_type\":\"comm_msg\"}", "{}", "{}", "{\"comm_id\":\"c\"}");
    push(&v, bin, sizeof bin);
    pushs(&v, "");
    pushs(&v, JP_WIRE_DELIM); /* a buffer that looks like the delimiter is just a buffer */
    m = decode_expect(&v, s, NULL, 0);
    assert_int_equal(m->n_idents, 1);
    assert_int_equal(m->n_buffers, 3);
    assert_int_equal(m->buffers[0].len, 3);
    assert_memory_equal(m->buffers[0].data, bin, 3);
    assert_int_equal(m->buffers[1].len, 0);
    assert_non_null(m->buffers[1].data);
    assert_int_equal(m->buffers[2].len, strlen(JP_WIRE_DELIM));
    jp_msg_free(m);
    jp_signer_free(s);
}

/* split points at the raw bytes (no copies, no parsing: invalid JSON passes), checks the
 * signature */
static void test_jp_wire_split_raw_parts(void **state)
{
    struct jp_signer *s = withkey(0);
    struct fvec v = {.n = 0};
    char sig[JP_SIG_HEX_LEN + 1];
    struct jp_wire_view view;
    struct jp_wire_error err;

    (void)state;
    pushs(&v, "ident");
    push_signed(&v, s, sig, "{\"msg_type\":\"stream\"}", "{}", "{ \"a\" : 1 }", "not json");
    pushs(&v, "buf");
    assert_int_equal(jp_wire_split(v.f, v.n, s, NULL, &view, &err), 0);
    assert_int_equal(view.n_idents, 1);
    assert_ptr_equal(view.dicts[0].data, v.f[3].data);
    assert_int_equal(view.dicts[2].len, strlen("{ \"a\" : 1 }"));
    assert_memory_equal(view.dicts[3].data, "not json", 8);
    assert_int_equal(view.n_buffers, 1);
    assert_ptr_equal(view.buffers, &v.f[7]);
    /* a changed byte in a signed part fails before anything else */
    v.f[6].data = "not jsoN";
    assert_int_equal(jp_wire_split(v.f, v.n, s, NULL, &view, &err), JP_ESIG);
    assert_true(err.text[0] != '\0');
    jp_signer_free(s);
}

static void test_jp_wire_decode_buffers_unsigned_by_design(void **state)
{
    struct jp_signer *s = withkey(0);
    struct fvec v = {.n = 0};
    char sig[JP_SIG_HEX_LEN + 1];
    struct jp_msg *m;

    (void)state;
    /* the spec signs only the four dicts: changing a buffer keeps the signature valid */
    push_signed(&v, s, sig, "{\"msg_type\":\"comm_msg\"}", "{}", "{}", "{}");
    pushs(&v, "one buffer");
    m = decode_expect(&v, s, NULL, 0);
    jp_msg_free(m);
    v.f[6].data = "another";
    v.f[6].len = 7;
    m = decode_expect(&v, s, NULL, 0);
    assert_memory_equal(m->buffers[0].data, "another", 7);
    jp_msg_free(m);
    jp_signer_free(s);
}

static void test_jp_wire_decode_missing_delimiter(void **state)
{
    struct jp_signer *s = nokey();
    struct fvec v = {.n = 0};

    (void)state;
    pushs(&v, "<IDS|MSG");
    pushs(&v, "");
    pushs(&v, "{\"msg_type\":\"x\"}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    decode_expect(&v, s, NULL, JP_EPROTO);
    v.f[0].data = "<IDS|MSG>x";
    v.f[0].len = 10;
    decode_expect(&v, s, NULL, JP_EPROTO);
    v.f[0].data = "<ids|msg>";
    v.f[0].len = 9;
    decode_expect(&v, s, NULL, JP_EPROTO);
    jp_signer_free(s);
}

static void test_jp_wire_decode_no_frames(void **state)
{
    struct jp_signer *s = nokey();
    struct fvec v = {.n = 0};

    (void)state;
    decode_expect(&v, s, NULL, JP_EPROTO);
    jp_signer_free(s);
}

static void test_jp_wire_decode_too_few_frames(void **state)
{
    struct jp_signer *s = nokey();
    struct fvec v = {.n = 0};
    size_t k;

    (void)state;
    pushs(&v, "id");
    pushs(&v, JP_WIRE_DELIM);
    for (k = 0; k < 4; k++) {
        decode_expect(&v, s, NULL, JP_EPROTO);
        pushs(&v, "{}");
    }
    /* delimiter + 4 frames is still one short */
    decode_expect(&v, s, NULL, JP_EPROTO);
    assert_int_equal(v.n, 6);
    jp_signer_free(s);
}

static void test_jp_wire_decode_non_object_dicts(void **state)
{
    static const char *const not_objects[] = {"[]", "[{\"msg_type\":\"x\"}]"};
    static const char *const not_containers[] = {"1", "\"str\"", "null", "true"};
    struct jp_signer *s = nokey();
    struct fvec v;
    size_t i, k;

    (void)state;
    for (k = 0; k < 4; k++) {
        for (i = 0; i < 2; i++) {
            v.n = 0;
            pushs(&v, JP_WIRE_DELIM);
            pushs(&v, "");
            pushs(&v, "{\"msg_type\":\"x\"}");
            pushs(&v, "{}");
            pushs(&v, "{}");
            pushs(&v, "{}");
            v.f[2 + k].data = (void *)(uintptr_t)not_objects[i];
            v.f[2 + k].len = strlen(not_objects[i]);
            decode_expect(&v, s, NULL, JP_EPROTO);
        }
        for (i = 0; i < 4; i++) {
            v.f[2 + k].data = (void *)(uintptr_t)not_containers[i];
            v.f[2 + k].len = strlen(not_containers[i]);
            /* jansson refuses a scalar at the top level without JSON_DECODE_ANY */
            decode_expect(&v, s, NULL, JP_EPARSE);
        }
    }
    jp_signer_free(s);
}

static void test_jp_wire_decode_invalid_json(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"a\":}",
        "{\"a\":1}x",
        "{\"a\":1,}",
        "{'a':1}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":1e400}",
        "{\"a\":99999999999999999999}",
    };
    struct jp_signer *s = nokey();
    struct fvec v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v.n = 0;
        pushs(&v, JP_WIRE_DELIM);
        pushs(&v, "");
        pushs(&v, "{\"msg_type\":\"x\"}");
        pushs(&v, "{}");
        pushs(&v, "{}");
        pushs(&v, bad[i]);
        decode_expect(&v, s, NULL, JP_EPARSE);
    }
    /* an embedded NUL byte in the frame */
    v.f[5].data = "{}\0";
    v.f[5].len = 3;
    decode_expect(&v, s, NULL, JP_EPARSE);
    jp_signer_free(s);
}

static void test_jp_wire_decode_header_without_msg_type(void **state)
{
    static const char *const headers[] = {"{}", "{\"msg_type\":1}", "{\"msg_type\":null}",
                                          "{\"MSG_TYPE\":\"x\"}", "{\"msg_type\":[\"x\"]}"};
    struct jp_signer *s = nokey();
    struct fvec v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        v.n = 0;
        pushs(&v, JP_WIRE_DELIM);
        pushs(&v, "");
        pushs(&v, headers[i]);
        pushs(&v, "{}");
        pushs(&v, "{}");
        pushs(&v, "{}");
        decode_expect(&v, s, NULL, JP_EPROTO);
    }
    jp_signer_free(s);
}

static void test_jp_wire_decode_wrong_signature(void **state)
{
    struct jp_signer *s = withkey(16);
    struct fvec v = {.n = 0};
    char bad[] = HEADER_SIG;

    (void)state;
    bad[5] = bad[5] == 'a' ? 'b' : 'a';
    pushs(&v, JP_WIRE_DELIM);
    pushs(&v, bad);
    pushs(&v, HEADER);
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    decode_expect(&v, s, NULL, JP_ESIG);
    /* correct signature but one dict changed */
    v.f[1].data = HEADER_SIG;
    v.f[5].data = "{ }";
    v.f[5].len = 3;
    decode_expect(&v, s, NULL, JP_ESIG);
    jp_signer_free(s);
}

static void test_jp_wire_decode_uppercase_signature(void **state)
{
    struct jp_signer *s = withkey(16);
    struct fvec v = {.n = 0};
    char upper[] = HEADER_SIG;
    struct jp_msg *m;
    size_t i;

    (void)state;
    for (i = 0; upper[i]; i++) {
        if (upper[i] >= 'a' && upper[i] <= 'f')
            upper[i] = (char)(upper[i] - 32);
    }
    pushs(&v, JP_WIRE_DELIM);
    pushs(&v, upper);
    pushs(&v, HEADER);
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    m = decode_expect(&v, s, NULL, 0);
    jp_msg_free(m);
    jp_signer_free(s);
}

static void test_jp_wire_decode_unsigned_with_key(void **state)
{
    struct jp_signer *s = withkey(16);
    struct fvec v = {.n = 0};

    (void)state;
    pushs(&v, JP_WIRE_DELIM);
    pushs(&v, "");
    pushs(&v, HEADER);
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    decode_expect(&v, s, NULL, JP_EUNSIGNED);
    jp_signer_free(s);
}

static void test_jp_wire_decode_signature_checked_before_json(void **state)
{
    struct jp_signer *s = withkey(16);
    struct fvec v = {.n = 0};
    char sig[JP_SIG_HEX_LEN + 1];
    struct jp_msg *m;

    (void)state;
    /* invalid JSON with a wrong signature is a signature error, never a parse error */
    pushs(&v, JP_WIRE_DELIM);
    pushs(&v, HEADER_SIG);
    pushs(&v, "{not json");
    pushs(&v, "[");
    pushs(&v, "1");
    pushs(&v, "");
    decode_expect(&v, s, NULL, JP_ESIG);
    /* correctly signed garbage reaches the parser */
    v.n = 0;
    push_signed(&v, s, sig, "{not json", "{}", "{}", "{}");
    decode_expect(&v, s, NULL, JP_EPARSE);
    /* the signature was recorded before parsing: the replay is refused without parsing */
    decode_expect(&v, s, NULL, JP_EREPLAY);
    v.n = 0;
    push_signed(&v, s, sig, "{\"msg_type\":\"ok\"}", "{}", "{}", "{}");
    m = decode_expect(&v, s, NULL, 0);
    jp_msg_free(m);
    jp_signer_free(s);
}

static void test_jp_wire_decode_limits(void **state)
{
    struct jp_signer *s = nokey();
    struct jp_wire_limits lim = {8, 16, 64};
    struct fvec v = {.n = 0};
    struct jp_msg *m;

    (void)state;
    pushs(&v, "id");
    pushs(&v, JP_WIRE_DELIM);
    pushs(&v, "");
    pushs(&v, "{\"msg_type\":\"x\"}"); /* exactly 16 bytes */
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "{}");
    pushs(&v, "buf");
    assert_int_equal(v.n, 8);
    m = decode_expect(&v, s, &lim, 0); /* 8 frames, 16-byte dict: at the limits */
    jp_msg_free(m);
    pushs(&v, "buf2");
    decode_expect(&v, s, &lim, JP_ETOOBIG); /* 9 frames */
    v.n--;
    v.f[3].data = "{\"msg_type\":\"xy\"}";
    v.f[3].len = 17;
    decode_expect(&v, s, &lim, JP_ETOOBIG); /* a 17-byte dict */
    v.f[3].data = "{\"msg_type\":\"x\"}";
    v.f[3].len = 16;
    lim.max_total_bytes = 2 + 9 + 16 + 2 + 2 + 2 + 3 - 1;
    decode_expect(&v, s, &lim, JP_ETOOBIG); /* one byte over in total */
    lim.max_total_bytes++;
    m = decode_expect(&v, s, &lim, 0);
    jp_msg_free(m);
    /* a large buffer does not count against the dict limit, only the total */
    lim.max_total_bytes = 1000;
    v.f[7].data = (void *)(uintptr_t) "0123456789012345678901234567890123456789";
    v.f[7].len = 40;
    m = decode_expect(&v, s, &lim, 0);
    jp_msg_free(m);
    /* the frame count is checked before anything else */
    lim.max_frames = 2;
    decode_expect(&v, s, &lim, JP_ETOOBIG);
    jp_signer_free(s);
}

static void test_jp_wire_decode_default_limits(void **state)
{
    (void)state;
    assert_int_equal(jp_wire_default_limits.max_frames, 4096);
    assert_true(jp_wire_default_limits.max_dict_bytes == (size_t)128 * 1024 * 1024);
    assert_true(jp_wire_default_limits.max_total_bytes == (size_t)512 * 1024 * 1024);
}

static void test_jp_wire_decode_invalid_arguments(void **state)
{
    struct jp_signer *s = nokey();
    struct jp_msg *m = NULL;
    struct jp_frame f[6] = {{JP_WIRE_DELIM, 9}, {"", 0},   {"{\"msg_type\":\"x\"}", 16},
                            {"{}", 2},          {"{}", 2}, {NULL, 2}};

    (void)state;
    assert_int_equal(jp_wire_decode(f, 6, s, NULL, NULL, NULL), JP_EINVAL);
    assert_int_equal(jp_wire_decode(f, 6, NULL, NULL, &m, NULL), JP_EINVAL);
    assert_int_equal(jp_wire_decode(NULL, 6, s, NULL, &m, NULL), JP_EINVAL);
    assert_int_equal(jp_wire_decode(f, 6, s, NULL, &m, NULL), JP_EINVAL); /* NULL data */
    f[5].len = 0; /* NULL data with length 0 is an empty frame: not JSON */
    assert_int_equal(jp_wire_decode(f, 6, s, NULL, &m, NULL), JP_EPARSE);
    assert_null(m);
    jp_signer_free(s);
}

static void test_jp_wire_encode_frame_layout(void **state)
{
    struct jp_signer *s = withkey(0);
    struct jp_session ss;
    struct jp_frame ids[2] = {{"route-a", 7}, {"route-b", 7}};
    struct jp_frame *f = NULL;
    struct jp_msg *m;
    size_t n = 0, i;

    (void)state;
    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    m = jp_msg_new(&ss, "comm_msg", NULL, json_pack("{s:s}", "comm_id", "c1"));
    assert_non_null(m);
    assert_int_equal(jp_msg_set_idents(m, ids, 2), 0);
    assert_int_equal(jp_msg_add_buffer(m, "\0\1\2", 3), 0);
    assert_int_equal(jp_wire_encode(m, s, &f, &n), 0);
    assert_int_equal(n, 2 + 6 + 1);
    assert_memory_equal(f[0].data, "route-a", 7);
    assert_memory_equal(f[1].data, "route-b", 7);
    assert_int_equal(f[2].len, 9);
    assert_memory_equal(f[2].data, JP_WIRE_DELIM, 9);
    assert_int_equal(f[3].len, 64);
    for (i = 0; i < 64; i++)
        assert_non_null(strchr("0123456789abcdef", ((char *)f[3].data)[i]));
    assert_memory_equal(f[5].data, "{}", 2);
    assert_memory_equal(f[6].data, "{}", 2);
    assert_int_equal(f[7].len, strlen("{\"comm_id\":\"c1\"}"));
    assert_memory_equal(f[7].data, "{\"comm_id\":\"c1\"}", f[7].len);
    assert_int_equal(f[8].len, 3);
    assert_memory_equal(f[8].data, "\0\1\2", 3);
    jp_frames_free(f, n);
    jp_msg_free(m);
    jp_signer_free(s);
}

/* the content given as bytes goes out as they are, signed, and decodes like any message */
/* the content block becomes the frame as it is (no copy), and is freed on every failure */
static void test_jp_wire_encode_content_take(void **state)
{
    struct jp_signer *s = withkey(0), *v = withkey(0);
    struct jp_session ss;
    struct jp_frame *f = NULL;
    struct jp_msg *m, *back = NULL;
    const char raw[] = "{\"name\":\"stdout\",\"text\":\"a\\tb\"}";
    size_t n = 0;
    long live;

    (void)state;
    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    m = jp_msg_new(&ss, "stream", NULL, NULL);
    assert_non_null(m);
    char *c = jp_memdup(raw, sizeof raw - 1);
    assert_non_null(c);
    assert_int_equal(jp_wire_encode_content_take(m, s, c, sizeof raw - 1, &f, &n), 0);
    assert_int_equal(n, 6);
    assert_ptr_equal(f[5].data, c);
    assert_int_equal(f[5].len, sizeof raw - 1);
    assert_int_equal(jp_wire_decode(f, n, v, NULL, &back, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(back->content, "text")), "a\tb");
    jp_msg_free(back);
    jp_frames_free(f, n);
    assert_int_equal(jp_wire_encode_content_take(m, s, NULL, 0, &f, &n), JP_EINVAL);
    live = failalloc_live();
    c = jp_memdup(raw, sizeof raw - 1);
    assert_int_equal(jp_wire_encode_content_take(NULL, s, c, sizeof raw - 1, &f, &n), JP_EINVAL);
    assert_int_equal(failalloc_live(), live);
    for (long k = 1;; k++) {
        c = jp_memdup(raw, sizeof raw - 1);
        assert_non_null(c);
        failalloc_arm(k, FAILALLOC_JP);
        int rc = jp_wire_encode_content_take(m, s, c, sizeof raw - 1, &f, &n);
        long failed = failalloc_state.failed;
        failalloc_disarm();
        if (!failed) {
            assert_int_equal(rc, 0);
            jp_frames_free(f, n);
            assert_int_equal(failalloc_live(), live);
            break;
        }
        assert_int_equal(rc, JP_ENOMEM);
        assert_int_equal(failalloc_live(), live);
    }
    jp_msg_free(m);
    jp_signer_free(s);
    jp_signer_free(v);
}

static void test_jp_wire_encode_content_raw(void **state)
{
    struct jp_signer *s = withkey(0), *v = withkey(0);
    struct jp_session ss;
    struct jp_frame *f = NULL;
    struct jp_msg *m, *back = NULL;
    const char raw[] = "{ \"name\" : \"stdout\", \"text\":\"x\\ny\" }";
    size_t n = 0;

    (void)state;
    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    m = jp_msg_new(&ss, "stream", NULL, NULL); /* content ignored */
    assert_non_null(m);
    assert_int_equal(jp_wire_encode_content(m, s, raw, sizeof raw - 1, &f, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(f[5].len, sizeof raw - 1);
    assert_memory_equal(f[5].data, raw, sizeof raw - 1);
    assert_int_equal(jp_wire_decode(f, n, v, NULL, &back, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(back->content, "text")), "x\ny");
    assert_int_equal(jp_wire_encode_content(m, s, NULL, 0, &f, &n), JP_EINVAL);
    jp_msg_free(back);
    jp_frames_free(f, 6);
    jp_msg_free(m);
    jp_signer_free(s);
    jp_signer_free(v);
}

static void test_jp_wire_encode_known_signature(void **state)
{
    struct jp_signer *s = withkey(0);
    struct jp_msg m;
    struct jp_frame *f = NULL;
    size_t n = 0;

    (void)state;
    memset(&m, 0, sizeof m);
    m.header = json_loads(HEADER, 0, NULL);
    m.parent_header = json_object();
    m.metadata = json_object();
    m.content = json_object();
    assert_non_null(m.header);
    assert_int_equal(jp_wire_encode(&m, s, &f, &n), 0);
    assert_int_equal(n, 6);
    /* compact output keeps the key order, so the bytes (and the HMAC) are Python's */
    assert_int_equal(f[2].len, strlen(HEADER));
    assert_memory_equal(f[2].data, HEADER, f[2].len);
    assert_int_equal(f[1].len, 64);
    assert_memory_equal(f[1].data, HEADER_SIG, 64);
    jp_frames_free(f, n);
    json_decref(m.header);
    json_decref(m.parent_header);
    json_decref(m.metadata);
    json_decref(m.content);
    jp_signer_free(s);
}

static void test_jp_wire_encode_compact_utf8(void **state)
{
    struct jp_signer *s = nokey();
    struct jp_msg m;
    struct jp_frame *f = NULL;
    size_t n = 0;
    const char *want =
        "{\"text\":\"h\xc3\xa9 \xf0\x9f\x98\x80 a/b \\\"q\\\" \\n\",\"n\":[1,-2,0.5],"
        "\"t\":true,\"z\":null,\"o\":{}}";

    (void)state;
    memset(&m, 0, sizeof m);
    m.header = json_pack("{s:s}", "msg_type", "stream");
    m.parent_header = json_object();
    m.metadata = json_object();
    m.content =
        json_pack("{s:s, s:[i,i,f], s:b, s:n, s:{}}", "text",
                  "h\xc3\xa9 \xf0\x9f\x98\x80 a/b \"q\" \n", "n", 1, -2, 0.5, "t", 1, "z", "o");
    assert_non_null(m.content);
    assert_int_equal(jp_wire_encode(&m, s, &f, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(f[1].len, 0); /* empty key: empty signature */
    assert_int_equal(f[5].len, strlen(want));
    assert_memory_equal(f[5].data, want, f[5].len);
    assert_memory_equal(f[2].data, "{\"msg_type\":\"stream\"}", f[2].len);
    jp_frames_free(f, n);
    json_decref(m.header);
    json_decref(m.parent_header);
    json_decref(m.metadata);
    json_decref(m.content);
    jp_signer_free(s);
}

static void test_jp_wire_encode_missing_dict(void **state)
{
    struct jp_signer *s = nokey();
    struct jp_msg m;
    struct jp_frame *f = (struct jp_frame *)(uintptr_t)0x99;
    size_t n = 77;

    (void)state;
    memset(&m, 0, sizeof m);
    m.header = json_pack("{s:s}", "msg_type", "x");
    m.parent_header = json_object();
    m.metadata = json_object();
    assert_int_equal(jp_wire_encode(&m, s, &f, &n), JP_EINVAL); /* content NULL */
    m.content = json_array();
    assert_int_equal(jp_wire_encode(&m, s, &f, &n), JP_EINVAL); /* content not an object */
    json_decref(m.content);
    m.content = json_object();
    assert_int_equal(jp_wire_encode(&m, NULL, &f, &n), JP_EINVAL);
    assert_int_equal(jp_wire_encode(NULL, s, &f, &n), JP_EINVAL);
    m.n_idents = 1; /* claims identities it does not have */
    assert_int_equal(jp_wire_encode(&m, s, &f, &n), JP_EINVAL);
    assert_ptr_equal(f, (struct jp_frame *)(uintptr_t)0x99);
    assert_int_equal(n, 77);
    json_decref(m.header);
    json_decref(m.parent_header);
    json_decref(m.metadata);
    json_decref(m.content);
    jp_signer_free(s);
}

static void assert_msgs_equal(const struct jp_msg *a, const struct jp_msg *b)
{
    size_t i;

    assert_true(json_equal(a->header, b->header));
    assert_true(json_equal(a->parent_header, b->parent_header));
    assert_true(json_equal(a->metadata, b->metadata));
    assert_true(json_equal(a->content, b->content));
    assert_int_equal(a->n_idents, b->n_idents);
    for (i = 0; i < a->n_idents; i++) {
        assert_int_equal(a->idents[i].len, b->idents[i].len);
        assert_memory_equal(a->idents[i].data, b->idents[i].data, a->idents[i].len);
    }
    assert_int_equal(a->n_buffers, b->n_buffers);
    for (i = 0; i < a->n_buffers; i++) {
        assert_int_equal(a->buffers[i].len, b->buffers[i].len);
        assert_memory_equal(a->buffers[i].data, b->buffers[i].data, a->buffers[i].len);
    }
}

static struct jp_msg *rich_message(struct jp_session *ss)
{
    struct jp_frame ids[2] = {{"\x00\x80\x00\x41\xa7", 5}, {"", 0}};
    json_t *parent, *content;
    struct jp_msg *m;

    parent = json_pack("{s:s, s:s}", "msg_id", "parent-1", "msg_type", "execute_request");
    content = json_pack("{s:s, s:I, s:I, s:f, s:f, s:[s,{s:[]}], s:b}", "text",
                        "\xe6\x97\xa5\xe6\x9c\xac \\ \" \t \x01", "big", (json_int_t)INT64_MAX,
                        "small", (json_int_t)INT64_MIN, "third", 1.0 / 3.0, "tiny", 5e-324,
                        "nested", "a", "b", "bool", 0);
    assert_non_null(parent);
    assert_non_null(content);
    m = jp_msg_new(ss, "execute_result", parent, content);
    json_decref(parent);
    assert_non_null(m);
    assert_int_equal(json_object_set_new(m->metadata, "\xc3\xa9t\xc3\xa9", json_true()), 0);
    assert_int_equal(jp_msg_set_idents(m, ids, 2), 0);
    assert_int_equal(jp_msg_add_buffer(m, "\0\0\0\1", 4), 0);
    assert_int_equal(jp_msg_add_buffer(m, "", 0), 0);
    return m;
}

static void test_jp_wire_encode_decode_round_trip(void **state)
{
    struct jp_signer *tx = withkey(0), *rx = withkey(1024);
    struct jp_session ss;
    struct jp_frame *f = NULL, *f2 = NULL;
    struct jp_msg *m, *back = NULL, *again = NULL;
    size_t n = 0, n2 = 0, i;

    (void)state;
    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    m = rich_message(&ss);
    assert_int_equal(jp_wire_encode(m, tx, &f, &n), 0);
    assert_int_equal(jp_wire_decode(f, n, rx, NULL, &back, NULL), 0);
    assert_msgs_equal(m, back);
    /* encoding what was decoded gives the same bytes */
    assert_int_equal(jp_wire_encode(back, tx, &f2, &n2), 0);
    assert_int_equal(n, n2);
    for (i = 0; i < n; i++) {
        assert_int_equal(f[i].len, f2[i].len);
        assert_memory_equal(f[i].data, f2[i].data, f[i].len);
    }
    /* which the receiver now refuses as a replay */
    assert_int_equal(jp_wire_decode(f2, n2, rx, NULL, &again, NULL), JP_EREPLAY);
    assert_null(again);
    jp_frames_free(f, n);
    jp_frames_free(f2, n2);
    jp_msg_free(m);
    jp_msg_free(back);
    jp_signer_free(tx);
    jp_signer_free(rx);
}

static void test_jp_wire_encode_decode_round_trip_unsigned(void **state)
{
    struct jp_signer *s = nokey();
    struct jp_session ss;
    struct jp_frame *f = NULL;
    struct jp_msg *m, *back = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    m = rich_message(&ss);
    assert_int_equal(jp_wire_encode(m, s, &f, &n), 0);
    assert_int_equal(f[m->n_idents + 1].len, 0);
    assert_int_equal(jp_wire_decode(f, n, s, NULL, &back, NULL), 0);
    assert_msgs_equal(m, back);
    jp_frames_free(f, n);
    jp_msg_free(m);
    jp_msg_free(back);
    jp_signer_free(s);
}

/* Every allocation of decode failed in turn. scope FAILALLOC_ALL fails jansson's too, which is
 * only safe with short JSON tokens (see failalloc.h); FAILALLOC_JP covers proto's own
 * allocations with any message. */
static void decode_oom_loop(const struct fvec *v, int scope, int min_iterations)
{
    struct jp_signer *s = withkey(0);
    struct jp_msg *ref = NULL, *m;
    long live, n;
    int rc, hit, done = 0;

    assert_int_equal(jp_wire_decode(v->f, v->n, s, NULL, &ref, NULL), 0);
    live = failalloc_live();
    for (n = 1; n < 100000 && !done; n++) {
        m = NULL;
        failalloc_arm(n, scope);
        rc = jp_wire_decode(v->f, v->n, s, NULL, &m, NULL);
        hit = failalloc_hit();
        failalloc_disarm();
        if (hit) {
            /* jansson reports a failed string allocation in its lexer as a syntax error */
            if (rc != JP_ENOMEM && rc != JP_EPARSE)
                print_error("n=%ld rc=%d\n", n, rc);
            assert_true(rc == JP_ENOMEM || rc == JP_EPARSE);
            assert_null(m);
            assert_int_equal(failalloc_live(), live);
        } else {
            assert_int_equal(rc, 0);
            assert_msgs_equal(ref, m);
            jp_msg_free(m);
            done = 1;
        }
    }
    assert_true(done);
    print_message("decode: failed each of %ld allocations in turn\n", n - 2);
    assert_true(n > min_iterations);
    jp_msg_free(ref);
    jp_signer_free(s);
}

static void test_jp_wire_decode_nomem_each_allocation(void **state)
{
    struct jp_signer *s = withkey(0);
    struct fvec v = {.n = 0};
    char sig[JP_SIG_HEX_LEN + 1];

    (void)state;
    /* every token at most 15 bytes: jansson's lexer buffer never has to grow */
    pushs(&v, "id-1");
    pushs(&v, "");
    push_signed(&v, s, sig, "{\"msg_type\":\"ping\",\"msg_id\":\"a1\",\"x\":{\"y\":[1,2]}}",
                "{\"msg_id\":\"p\"}", "{\"k\":[1,2.5,true,null,\"h\\u00e9\"]}",
                "{\"text\":\"h\xc3\xa9\",\"n\":-12,\"o\":{},\"a\":[]}");
    pushs(&v, "buffer");
    pushs(&v, "");
    decode_oom_loop(&v, FAILALLOC_ALL, 20);
    jp_signer_free(s);
}

static void test_jp_wire_decode_nomem_proto_allocations(void **state)
{
    struct jp_signer *s = withkey(0);
    struct jp_session ss;
    struct jp_frame *f = NULL;
    struct fvec v = {.n = 0};
    struct jp_msg *m;
    size_t n = 0, i;

    (void)state;
    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    m = rich_message(&ss);
    assert_int_equal(jp_wire_encode(m, s, &f, &n), 0);
    for (i = 0; i < n; i++)
        push(&v, f[i].data, f[i].len);
    decode_oom_loop(&v, FAILALLOC_JP, 5);
    jp_frames_free(f, n);
    jp_msg_free(m);
    jp_signer_free(s);
}

static void test_jp_wire_encode_nomem_each_allocation(void **state)
{
    struct jp_signer *s = withkey(0);
    struct jp_session ss;
    struct jp_frame *ref = NULL, *f;
    struct jp_msg *m;
    size_t nref = 0, nf, i;
    long live, n;
    int rc, hit, done = 0;

    (void)state;
    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    m = rich_message(&ss);
    assert_int_equal(jp_wire_encode(m, s, &ref, &nref), 0);
    live = failalloc_live();
    for (n = 1; n < 100000 && !done; n++) {
        f = (struct jp_frame *)(uintptr_t)0x42;
        nf = 4242;
        failalloc_arm(n, FAILALLOC_ALL);
        rc = jp_wire_encode(m, s, &f, &nf);
        hit = failalloc_hit();
        failalloc_disarm();
        if (hit) {
            assert_int_equal(rc, JP_ENOMEM);
            assert_ptr_equal(f, (struct jp_frame *)(uintptr_t)0x42);
            assert_int_equal(nf, 4242);
            assert_int_equal(failalloc_live(), live);
        } else {
            /* no failure was swallowed into a silently truncated frame */
            assert_int_equal(rc, 0);
            assert_int_equal(nf, nref);
            for (i = 0; i < nf; i++) {
                assert_int_equal(f[i].len, ref[i].len);
                assert_memory_equal(f[i].data, ref[i].data, f[i].len);
            }
            jp_frames_free(f, nf);
            done = 1;
        }
    }
    assert_true(done);
    print_message("encode: failed each of %ld allocations in turn\n", n - 2);
    assert_true(n > 20);
    jp_frames_free(ref, nref);
    jp_msg_free(m);
    jp_signer_free(s);
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
        cmocka_unit_test(test_jp_wire_decode_minimal_unsigned),
        cmocka_unit_test(test_jp_wire_decode_signed_known_answer),
        cmocka_unit_test(test_jp_wire_decode_identities),
        cmocka_unit_test(test_jp_wire_decode_buffers),
        cmocka_unit_test(test_jp_wire_decode_buffers_unsigned_by_design),
        cmocka_unit_test(test_jp_wire_decode_missing_delimiter),
        cmocka_unit_test(test_jp_wire_decode_no_frames),
        cmocka_unit_test(test_jp_wire_decode_too_few_frames),
        cmocka_unit_test(test_jp_wire_decode_non_object_dicts),
        cmocka_unit_test(test_jp_wire_decode_invalid_json),
        cmocka_unit_test(test_jp_wire_decode_header_without_msg_type),
        cmocka_unit_test(test_jp_wire_decode_wrong_signature),
        cmocka_unit_test(test_jp_wire_decode_uppercase_signature),
        cmocka_unit_test(test_jp_wire_decode_unsigned_with_key),
        cmocka_unit_test(test_jp_wire_decode_signature_checked_before_json),
        cmocka_unit_test(test_jp_wire_decode_limits),
        cmocka_unit_test(test_jp_wire_decode_default_limits),
        cmocka_unit_test(test_jp_wire_decode_invalid_arguments),
        cmocka_unit_test(test_jp_wire_encode_frame_layout),
        cmocka_unit_test(test_jp_wire_encode_known_signature),
        cmocka_unit_test(test_jp_wire_encode_compact_utf8),
        cmocka_unit_test(test_jp_wire_encode_missing_dict),
        cmocka_unit_test(test_jp_wire_encode_decode_round_trip),
        cmocka_unit_test(test_jp_wire_encode_decode_round_trip_unsigned),
        cmocka_unit_test(test_jp_wire_decode_nomem_each_allocation),
        cmocka_unit_test(test_jp_wire_decode_nomem_proto_allocations),
        cmocka_unit_test(test_jp_wire_split_raw_parts),
        cmocka_unit_test(test_jp_wire_encode_content_raw),
        cmocka_unit_test(test_jp_wire_encode_content_take),
        cmocka_unit_test(test_jp_wire_encode_nomem_each_allocation),
    };

    return cmocka_run_group_tests_name("jp_wire", tests, setup_failalloc, NULL);
}
