/*
 * test_jp_msg.c - unit tests for proto/jp_msg.c: sessions (random id, username truncation at
 * character boundaries and replacement of bytes that are not UTF-8), headers of new messages
 * (fields, unique msg_ids, a parsable date), parent and content ownership, replies,
 * identities and buffers, and out-of-memory behaviour: every allocation of jp_msg_new,
 * jp_msg_reply, jp_msg_set_idents and jp_msg_add_buffer is failed in turn, and each failure
 * must give a clean error with nothing leaked. Does not test the wire format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "failalloc.h"
#include "jp_alloc.h"
#include "jp_err.h"
#include "jp_msg.h"
#include "jp_time.h"

static struct jp_session session(void)
{
    struct jp_session ss;

    assert_int_equal(jp_session_init(&ss, "cnote"), 0);
    return ss;
}

static const char *hstr(const struct jp_msg *m, const char *key)
{
    const char *v = json_string_value(json_object_get(m->header, key));

    assert_non_null(v);
    return v;
}

static void test_jp_session_init_fields(void **state)
{
    struct jp_session a, b;

    (void)state;
    assert_int_equal(jp_session_init(&a, "alice"), 0);
    assert_int_equal(jp_session_init(&b, NULL), 0);
    assert_int_equal(strlen(a.session), 36);
    assert_int_equal(a.session[14], '4');
    assert_string_not_equal(a.session, b.session);
    assert_string_equal(a.username, "alice");
    assert_string_equal(b.username, "");
    assert_true(a.counter == 0);
}

static void test_jp_session_init_truncates_long_username(void **state)
{
    struct jp_session ss;
    char name[200];

    (void)state;
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(jp_session_init(&ss, name), 0);
    assert_int_equal(strlen(ss.username), sizeof ss.username - 1);
}

static void test_jp_session_init_truncates_at_char_boundary(void **state)
{
    struct jp_session ss;
    char name[200];
    size_t i;

    (void)state;
    /* 62 ASCII bytes then a 2-byte character: only 63 fit, so the character is dropped
     * whole rather than split */
    memset(name, 'a', 62);
    memcpy(name + 62, "\xc3\xa9\xc3\xa9", 5);
    assert_int_equal(jp_session_init(&ss, name), 0);
    assert_int_equal(strlen(ss.username), 62);
    /* 3-byte characters all the way: 21 fit in 63 bytes */
    for (i = 0; i + 3 < sizeof name; i += 3)
        memcpy(name + i, "\xe2\x82\xac", 3);
    name[i] = '\0';
    assert_int_equal(jp_session_init(&ss, name), 0);
    assert_int_equal(strlen(ss.username), 63);
    assert_memory_equal(ss.username + 60, "\xe2\x82\xac", 3);
}

static void test_jp_session_init_replaces_invalid_utf8(void **state)
{
    struct jp_session ss;
    struct jp_msg *m;

    (void)state;
    /* a stray continuation byte, an overlong '/', a surrogate, a truncated sequence */
    assert_int_equal(jp_session_init(&ss, "a\x80"
                                          "b\xc0\xaf"
                                          "c\xed\xa0\x80"
                                          "d\xe2\x82"),
                     0);
    assert_string_equal(ss.username, "a?b??c???d??");
    m = jp_msg_new(&ss, "status", NULL, NULL);
    assert_non_null(m);
    assert_string_equal(hstr(m, "username"), "a?b??c???d??");
    jp_msg_free(m);
}

static void test_jp_msg_new_header_fields(void **state)
{
    struct jp_session ss = session();
    struct jp_msg *m;
    char want_prefix[128];
    int64_t us, now = jp_time_now_us();

    (void)state;
    m = jp_msg_new(&ss, "kernel_info_request", NULL, NULL);
    assert_non_null(m);
    assert_string_equal(jp_msg_type(m), "kernel_info_request");
    assert_string_equal(hstr(m, "msg_type"), "kernel_info_request");
    assert_string_equal(hstr(m, "session"), ss.session);
    assert_string_equal(hstr(m, "username"), "cnote");
    assert_string_equal(hstr(m, "version"), "5.3");
    snprintf(want_prefix, sizeof want_prefix, "%s_%ld_", ss.session, (long)getpid());
    assert_string_equal(jp_msg_id(m), hstr(m, "msg_id"));
    assert_int_equal(strncmp(jp_msg_id(m), want_prefix, strlen(want_prefix)), 0);
    assert_string_equal(jp_msg_id(m) + strlen(want_prefix), "1");
    assert_int_equal(strlen(hstr(m, "date")), 27);
    assert_int_equal(jp_time_parse(hstr(m, "date"), &us), 0);
    assert_true(us >= now - 5000000 && us <= now + 5000000);
    assert_int_equal(json_object_size(m->header), 6);
    assert_true(json_is_object(m->parent_header));
    assert_int_equal(json_object_size(m->parent_header), 0);
    assert_int_equal(json_object_size(m->metadata), 0);
    assert_int_equal(json_object_size(m->content), 0);
    assert_null(m->idents);
    assert_int_equal(m->n_idents, 0);
    assert_null(m->buffers);
    assert_int_equal(m->n_buffers, 0);
    jp_msg_free(m);
}

static void test_jp_msg_new_unique_ids(void **state)
{
    struct jp_session ss = session();
    struct jp_msg *a = jp_msg_new(&ss, "status", NULL, NULL);
    struct jp_msg *b = jp_msg_new(&ss, "status", NULL, NULL);

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(jp_msg_id(a), jp_msg_id(b));
    assert_true(ss.counter == 2);
    jp_msg_free(a);
    jp_msg_free(b);
}

static void test_jp_msg_new_parent_is_deep_copy(void **state)
{
    struct jp_session ss = session();
    json_t *parent = json_pack("{s:s, s:{s:i}}", "msg_id", "p1", "nested", "x", 1);
    struct jp_msg *m;

    (void)state;
    assert_non_null(parent);
    m = jp_msg_new(&ss, "status", parent, NULL);
    assert_non_null(m);
    assert_true(json_equal(m->parent_header, parent));
    assert_ptr_not_equal(m->parent_header, parent);
    json_integer_set(json_object_get(json_object_get(parent, "nested"), "x"), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(m->parent_header, "nested"), "x")), 1);
    assert_int_equal(parent->refcount, 1);
    json_decref(parent);
    jp_msg_free(m);
}

static void test_jp_msg_new_steals_content(void **state)
{
    struct jp_session ss = session();
    json_t *content = json_pack("{s:s}", "execution_state", "busy");
    struct jp_msg *m;

    (void)state;
    assert_non_null(content);
    json_incref(content); /* keep our own reference to watch the count */
    m = jp_msg_new(&ss, "status", NULL, content);
    assert_non_null(m);
    assert_ptr_equal(m->content, content);
    assert_int_equal(content->refcount, 2);
    jp_msg_free(m);
    assert_int_equal(content->refcount, 1);
    json_decref(content);
}

static void test_jp_msg_new_invalid_arguments_release_content(void **state)
{
    struct jp_session ss = session();
    json_t *content = json_object();
    json_t *array = json_array();

    (void)state;
    json_incref(content);
    assert_null(jp_msg_new(&ss, NULL, NULL, content));
    assert_int_equal(content->refcount, 1);
    json_incref(content);
    assert_null(jp_msg_new(NULL, "status", NULL, content));
    assert_int_equal(content->refcount, 1);
    json_incref(content);
    assert_null(jp_msg_new(&ss, "status", array, content)); /* parent not an object */
    assert_int_equal(content->refcount, 1);
    json_incref(content);
    assert_null(jp_msg_new(&ss, "bad\xff", NULL, content)); /* msg_type not UTF-8 */
    assert_int_equal(content->refcount, 1);
    json_incref(array);
    assert_null(jp_msg_new(&ss, "status", NULL, array)); /* content not an object */
    assert_int_equal(array->refcount, 1);
    json_decref(content);
    json_decref(array);
}

static void test_jp_msg_reply_carries_parent_and_idents(void **state)
{
    struct jp_session ss = session(), peer;
    struct jp_frame ids[2] = {{"id-1", 4}, {"", 0}};
    struct jp_msg *req, *rep;

    (void)state;
    assert_int_equal(jp_session_init(&peer, "client"), 0);
    req = jp_msg_new(&peer, "execute_request", NULL, json_pack("{s:s}", "code", "1"));
    assert_non_null(req);
    assert_int_equal(jp_msg_set_idents(req, ids, 2), 0);
    rep = jp_msg_reply(&ss, req, "execute_reply", json_pack("{s:s}", "status", "ok"));
    assert_non_null(rep);
    assert_true(json_equal(rep->parent_header, req->header));
    assert_ptr_not_equal(rep->parent_header, req->header);
    assert_int_equal(rep->n_idents, 2);
    assert_int_equal(rep->idents[0].len, 4);
    assert_memory_equal(rep->idents[0].data, "id-1", 4);
    assert_ptr_not_equal(rep->idents[0].data, req->idents[0].data);
    assert_int_equal(rep->idents[1].len, 0);
    assert_non_null(rep->idents[1].data);
    assert_string_equal(hstr(rep, "session"), ss.session);
    assert_string_equal(jp_msg_type(rep), "execute_reply");
    assert_string_equal(json_string_value(json_object_get(rep->content, "status")), "ok");
    jp_msg_free(req);
    jp_msg_free(rep);
}

static void test_jp_msg_reply_null_request(void **state)
{
    struct jp_session ss = session();
    json_t *content = json_object();

    (void)state;
    json_incref(content);
    assert_null(jp_msg_reply(&ss, NULL, "x", content));
    assert_int_equal(content->refcount, 1);
    json_decref(content);
}

static void test_jp_msg_type_missing_gives_empty(void **state)
{
    struct jp_msg m;

    (void)state;
    memset(&m, 0, sizeof m);
    assert_string_equal(jp_msg_type(&m), "");
    assert_string_equal(jp_msg_id(&m), "");
    assert_string_equal(jp_msg_type(NULL), "");
    m.header = json_pack("{s:i, s:n}", "msg_type", 3, "msg_id");
    assert_string_equal(jp_msg_type(&m), "");
    assert_string_equal(jp_msg_id(&m), "");
    json_decref(m.header);
}

static void test_jp_msg_set_idents_replaces(void **state)
{
    struct jp_session ss = session();
    struct jp_frame a[1] = {{"first", 5}}, b[2] = {{"x", 1}, {"yz", 2}};
    struct jp_msg *m = jp_msg_new(&ss, "status", NULL, NULL);

    (void)state;
    assert_non_null(m);
    assert_int_equal(jp_msg_set_idents(m, a, 1), 0);
    assert_int_equal(m->n_idents, 1);
    assert_int_equal(jp_msg_set_idents(m, b, 2), 0);
    assert_int_equal(m->n_idents, 2);
    assert_memory_equal(m->idents[1].data, "yz", 2);
    /* from its own array */
    assert_int_equal(jp_msg_set_idents(m, m->idents, m->n_idents), 0);
    assert_int_equal(m->n_idents, 2);
    assert_memory_equal(m->idents[0].data, "x", 1);
    assert_int_equal(jp_msg_set_idents(m, NULL, 0), 0);
    assert_null(m->idents);
    assert_int_equal(m->n_idents, 0);
    assert_int_equal(jp_msg_set_idents(m, NULL, 1), JP_EINVAL);
    jp_msg_free(m);
}

static void test_jp_msg_add_buffer_appends(void **state)
{
    struct jp_session ss = session();
    struct jp_msg *m = jp_msg_new(&ss, "comm_msg", NULL, NULL);
    unsigned char bin[4] = {0, 1, 2, 255};
    int i;

    (void)state;
    assert_non_null(m);
    for (i = 0; i < 10; i++)
        assert_int_equal(jp_msg_add_buffer(m, bin, sizeof bin), 0);
    assert_int_equal(jp_msg_add_buffer(m, NULL, 0), 0);
    assert_int_equal(jp_msg_add_buffer(m, NULL, 3), JP_EINVAL);
    assert_int_equal(m->n_buffers, 11);
    assert_memory_equal(m->buffers[9].data, bin, 4);
    assert_int_equal(m->buffers[10].len, 0);
    jp_msg_free(m);
}

static void test_jp_msg_free_null(void **state)
{
    (void)state;
    jp_msg_free(NULL);
    jp_frames_free(NULL, 3);
}

/* Out-of-memory: fail allocation n = 1, 2, ... of `op` until one run completes without
 * reaching the failure. A failing run must report failure and leave no block behind. */
enum oom_op { OOM_NEW, OOM_NEW_PARENT, OOM_REPLY };

/* One run of op; content is borrowed (a reference is handed to the call). */
static int oom_run(enum oom_op op, struct jp_session *ss, const struct jp_msg *req, json_t *content)
{
    struct jp_msg *m = NULL;

    json_incref(content);
    switch (op) {
    case OOM_NEW:
        m = jp_msg_new(ss, "stream", NULL, content);
        break;
    case OOM_NEW_PARENT:
        m = jp_msg_new(ss, "status", req->header, content);
        break;
    case OOM_REPLY:
        m = jp_msg_reply(ss, req, "execute_reply", content);
        break;
    }
    if (!m)
        return JP_ENOMEM;
    jp_msg_free(m);
    return 0;
}

static void oom_loop(enum oom_op op)
{
    struct jp_session ss = session();
    struct jp_msg *req;
    struct jp_frame ids[2] = {{"route", 5}, {"x", 1}};
    json_t *content;
    long live, n;
    int rc, hit, done = 0;

    req = jp_msg_new(&ss, "execute_request", NULL, json_pack("{s:s}", "code", "x=1"));
    assert_non_null(req);
    assert_int_equal(jp_msg_set_idents(req, ids, 2), 0);
    content = json_pack("{s:s, s:[i,i]}", "name", "stdout", "v", 1, 2);
    assert_non_null(content);
    live = failalloc_live();
    for (n = 1; n < 10000 && !done; n++) {
        failalloc_arm(n, FAILALLOC_ALL);
        rc = oom_run(op, &ss, req, content);
        hit = failalloc_hit();
        failalloc_disarm();
        assert_int_equal(failalloc_live(), live);
        assert_int_equal(content->refcount, 1); /* released on failure too */
        if (hit)
            assert_int_equal(rc, JP_ENOMEM);
        else
            done = 1;
    }
    assert_true(done);
    print_message("failed each of %ld allocations in turn\n", n - 2);
    assert_true(n > 10); /* the loop really failed a number of allocations */
    json_decref(content);
    jp_msg_free(req);
}

static void test_jp_msg_new_nomem_each_allocation(void **state)
{
    (void)state;
    oom_loop(OOM_NEW);
    oom_loop(OOM_NEW_PARENT);
}

static void test_jp_msg_reply_nomem_each_allocation(void **state)
{
    (void)state;
    oom_loop(OOM_REPLY);
}

static void test_jp_msg_set_idents_nomem_unchanged(void **state)
{
    struct jp_session ss = session();
    struct jp_frame old[1] = {{"old", 3}}, ids[3] = {{"a", 1}, {"bb", 2}, {"", 0}};
    struct jp_msg *m = jp_msg_new(&ss, "status", NULL, NULL);
    long live, n;
    int rc, hit, done = 0;

    (void)state;
    assert_non_null(m);
    assert_int_equal(jp_msg_set_idents(m, old, 1), 0);
    live = failalloc_live();
    for (n = 1; n < 100 && !done; n++) {
        failalloc_arm(n, FAILALLOC_ALL);
        rc = jp_msg_set_idents(m, ids, 3);
        hit = failalloc_hit();
        failalloc_disarm();
        if (hit) {
            assert_int_equal(rc, JP_ENOMEM);
            assert_int_equal(failalloc_live(), live);
            assert_int_equal(m->n_idents, 1);
            assert_memory_equal(m->idents[0].data, "old", 3);
        } else {
            assert_int_equal(rc, 0);
            done = 1;
        }
    }
    assert_true(done);
    assert_int_equal(n, 6); /* array + 3 copies succeeded on the 5th try */
    assert_int_equal(m->n_idents, 3);
    jp_msg_free(m);
}

static void test_jp_msg_add_buffer_nomem_unchanged(void **state)
{
    struct jp_session ss = session();
    struct jp_msg *m = jp_msg_new(&ss, "comm_msg", NULL, NULL);
    long live, n;
    int rc, hit, done = 0;

    (void)state;
    assert_non_null(m);
    assert_int_equal(jp_msg_add_buffer(m, "first", 5), 0);
    live = failalloc_live();
    for (n = 1; n < 100 && !done; n++) {
        failalloc_arm(n, FAILALLOC_ALL);
        rc = jp_msg_add_buffer(m, "second", 6);
        hit = failalloc_hit();
        failalloc_disarm();
        if (hit) {
            assert_int_equal(rc, JP_ENOMEM);
            assert_int_equal(failalloc_live(), live);
            assert_int_equal(m->n_buffers, 1);
            assert_memory_equal(m->buffers[0].data, "first", 5);
        } else {
            assert_int_equal(rc, 0);
            done = 1;
        }
    }
    assert_true(done);
    assert_int_equal(m->n_buffers, 2);
    assert_memory_equal(m->buffers[1].data, "second", 6);
    jp_msg_free(m);
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
        cmocka_unit_test(test_jp_session_init_fields),
        cmocka_unit_test(test_jp_session_init_truncates_long_username),
        cmocka_unit_test(test_jp_session_init_truncates_at_char_boundary),
        cmocka_unit_test(test_jp_session_init_replaces_invalid_utf8),
        cmocka_unit_test(test_jp_msg_new_header_fields),
        cmocka_unit_test(test_jp_msg_new_unique_ids),
        cmocka_unit_test(test_jp_msg_new_parent_is_deep_copy),
        cmocka_unit_test(test_jp_msg_new_steals_content),
        cmocka_unit_test(test_jp_msg_new_invalid_arguments_release_content),
        cmocka_unit_test(test_jp_msg_reply_carries_parent_and_idents),
        cmocka_unit_test(test_jp_msg_reply_null_request),
        cmocka_unit_test(test_jp_msg_type_missing_gives_empty),
        cmocka_unit_test(test_jp_msg_set_idents_replaces),
        cmocka_unit_test(test_jp_msg_add_buffer_appends),
        cmocka_unit_test(test_jp_msg_free_null),
        cmocka_unit_test(test_jp_msg_new_nomem_each_allocation),
        cmocka_unit_test(test_jp_msg_reply_nomem_each_allocation),
        cmocka_unit_test(test_jp_msg_set_idents_nomem_unchanged),
        cmocka_unit_test(test_jp_msg_add_buffer_nomem_unchanged),
    };

    return cmocka_run_group_tests_name("jp_msg", tests, setup_failalloc, NULL);
}
