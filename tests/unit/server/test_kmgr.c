/*
 * test_kmgr.c - unit tests for server/kmgr.c against REAL kernels on a real libuv loop: the
 * cnote C kernel (build/bin/cnote-kernel, kernelspec in .venv/share/jupyter/kernels/cnote)
 * and ipykernel (kernelspec "python3" in .venv), plus shell-script kernelspecs written to a
 * temporary JUPYTER_PATH entry (a missing binary, a process that exits at once, one that
 * dumps its environment) and a fake kernel on a thread that forges signatures. Covers start,
 * execute with IOPub busy/stream/idle and the reply, interrupt by message and by signal,
 * restart with the same ports and key, auto-restart after kill -9, the restart limit, shutdown,
 * culling, adoption after kmgr_free without shutdown, kmgr_free with shutdown, the launch
 * environment, dropped bad signatures, and 50 kernels at once without leaking descriptors.
 * Every wait is bounded by a loop timer. Run from the repository root; tests skip when the
 * kernels are not built/installed (make && make install-kernelspec).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>
#include <jansson.h>
#include <zmq.h>

#include "jp_alloc.h"
#include "jp_conn.h"
#include "jp_err.h"
#include "jp_hmac.h"
#include "jp_log.h"
#include "jp_msg.h"
#include "jp_time.h"
#include "jp_wire.h"
#include "kmgr.h"
#include "kspecs.h"

#define MAX_EVENTS 256

struct done_rec {
    int fired;
    int status;
    char id[37];
    char reason[256];
};

struct fx {
    uv_loop_t loop;
    char tmp[256];     /* temporary tree */
    char runtime[300]; /* runtime dir */
    char specdir[300]; /* extra JUPYTER_PATH entry (data dir) */
    struct kspecs specs;
    struct kmgr *m;
    struct kmgr_opts opts;
    struct jp_session ss;
    int timed_out;
    uv_timer_t timeout;

    /* events */
    int nlc;
    char lc[MAX_EVENTS][24];
    char lc_id[MAX_EVENTS][37];
    /* the request being watched */
    char watch[128];
    int busy, idle, err;
    char stream[8192];
    char ename[64];
    char reply_status[32];
    int replies;
    int iopub_total;
    int iopub_for_watch;
    char all_stream[8192]; /* every stream text, whatever its parent */
    int forged_replies;
};

static char g_root[1024];
static int g_have_cnote, g_have_python;

/* ---- helpers ------------------------------------------------------------------------- */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void put_spec(struct fx *f, const char *name, const char *json)
{
    char p[600];

    snprintf(p, sizeof p, "%s/kernels/%s", f->specdir, name);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/kernels/%s/kernel.json", f->specdir, name);
    write_file(p, json);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n - 1; /* the DIR's own descriptor */
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

/* ZeroMQ's reaper thread closes a socket's descriptors a little after zmq_close: wait until
 * the count is stable (or reaches target, when given). */
static int settled_fds(struct fx *f, int target);

static int pid_gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static int64_t g_deadline;

/* Ticks every 10 ms so predicates on things outside the loop (files, threads) are re-checked. */
static void on_timeout(uv_timer_t *t)
{
    struct fx *f = t->data;
    if (jp_time_mono_ms() >= g_deadline)
        f->timed_out = 1;
}

typedef int (*pred_fn)(struct fx *f, void *arg);

/* Run the loop until pred holds or timeout_ms passed. Returns whether pred held. */
static int run_until(struct fx *f, pred_fn pred, void *arg, int timeout_ms)
{
    f->timed_out = 0;
    g_deadline = jp_time_mono_ms() + timeout_ms;
    uv_timer_start(&f->timeout, on_timeout, 10, 10);
    while (!pred(f, arg) && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->timeout);
    return pred(f, arg);
}

static int done_fired(struct fx *f, void *arg)
{
    (void)f;
    return ((struct done_rec *)arg)->fired;
}

static int int_nonzero(struct fx *f, void *arg)
{
    (void)f;
    return *(int *)arg != 0;
}

static int settled_fds(struct fx *f, int target)
{
    int prev = -1, n = count_fds();

    for (int i = 0; i < 60 && (target >= 0 ? n != target : n != prev); i++) {
        prev = n;
        run_until(f, int_nonzero, &f->timed_out, 50);
        n = count_fds();
    }
    return n;
}

static int lc_count(struct fx *f, const char *id, const char *event)
{
    int n = 0;
    for (int i = 0; i < f->nlc; i++)
        if (strcmp(f->lc[i], event) == 0 && (!id || strcmp(f->lc_id[i], id) == 0))
            n++;
    return n;
}

struct lc_wait {
    const char *id;
    const char *event;
    int n;
};

static int lc_reached(struct fx *f, void *arg)
{
    struct lc_wait *w = arg;
    return lc_count(f, w->id, w->event) >= w->n;
}

static int watch_done(struct fx *f, void *arg)
{
    (void)arg;
    return f->idle && f->replies;
}

static int watch_busy(struct fx *f, void *arg)
{
    (void)arg;
    return f->busy;
}

static void done_cb(void *arg, int status, const char *id, const char *reason)
{
    struct done_rec *d = arg;
    d->fired++;
    d->status = status;
    snprintf(d->id, sizeof d->id, "%s", id ? id : "");
    snprintf(d->reason, sizeof d->reason, "%s", reason ? reason : "");
}

static const char *parent_id(const struct kmgr_msg *m)
{
    return kmgr_msg_parent_id(m);
}

static void ev_iopub(void *ctx, const char *kernel_id, struct kmgr_msg *m)
{
    struct fx *f = ctx;
    const char *t = m->msg_type;

    (void)kernel_id;
    f->iopub_total++;
    if (strcmp(t, "stream") == 0) {
        const char *txt = json_string_value(json_object_get(kmgr_msg_content(m), "text"));
        size_t l = strlen(f->all_stream);
        snprintf(f->all_stream + l, sizeof f->all_stream - l, "%s|", txt ? txt : "");
    }
    if (!f->watch[0] || strcmp(parent_id(m), f->watch) != 0)
        return;
    f->iopub_for_watch++;
    if (strcmp(t, "status") == 0) {
        const char *es = json_string_value(json_object_get(kmgr_msg_content(m), "execution_state"));
        if (es && strcmp(es, "busy") == 0)
            f->busy = 1;
        if (es && strcmp(es, "idle") == 0)
            f->idle = 1;
    } else if (strcmp(t, "stream") == 0) {
        const char *txt = json_string_value(json_object_get(kmgr_msg_content(m), "text"));
        size_t l = strlen(f->stream);
        snprintf(f->stream + l, sizeof f->stream - l, "%s", txt ? txt : "");
    } else if (strcmp(t, "error") == 0) {
        const char *en = json_string_value(json_object_get(kmgr_msg_content(m), "ename"));
        f->err = 1;
        snprintf(f->ename, sizeof f->ename, "%s", en ? en : "");
    }
}

static void ev_reply(void *ctx, const char *kernel_id, struct kmgr_msg *m)
{
    struct fx *f = ctx;
    const char *st = json_string_value(json_object_get(kmgr_msg_content(m), "status"));

    (void)kernel_id;
    if (strcmp(parent_id(m), "forged-parent") == 0)
        f->forged_replies++;
    if (!f->watch[0] || strcmp(parent_id(m), f->watch) != 0)
        return;
    f->replies++;
    snprintf(f->reply_status, sizeof f->reply_status, "%s", st ? st : "");
    if (st && strcmp(st, "error") == 0 && !f->ename[0]) {
        const char *en = json_string_value(json_object_get(kmgr_msg_content(m), "ename"));
        snprintf(f->ename, sizeof f->ename, "%s", en ? en : "");
    }
}

static void ev_lifecycle(void *ctx, const char *kernel_id, const char *event)
{
    struct fx *f = ctx;

    if (f->nlc < MAX_EVENTS) {
        snprintf(f->lc[f->nlc], sizeof f->lc[0], "%s", event);
        snprintf(f->lc_id[f->nlc], sizeof f->lc_id[0], "%s", kernel_id);
        f->nlc++;
    }
}

static const struct kmgr_events g_events = {ev_iopub, ev_reply, ev_lifecycle};

static void reset_watch(struct fx *f)
{
    f->watch[0] = '\0';
    f->busy = f->idle = f->err = f->replies = f->iopub_for_watch = 0;
    f->stream[0] = f->ename[0] = f->reply_status[0] = '\0';
}

/* Send a request on shell and watch its IOPub and reply. */
static void send_watched(struct fx *f, const char *kid, const char *type, json_t *content)
{
    struct jp_msg *msg = jp_msg_new(&f->ss, type, NULL, content);

    assert_non_null(msg);
    reset_watch(f);
    snprintf(f->watch, sizeof f->watch, "%s", jp_msg_id(msg));
    assert_int_equal(kmgr_send(f->m, kid, "shell", msg), 0);
    jp_msg_free(msg);
}

static void send_execute(struct fx *f, const char *kid, const char *code)
{
    send_watched(f, kid, "execute_request",
                 json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0,
                           "store_history", 1, "user_expressions", "allow_stdin", 0,
                           "stop_on_error", 1));
}

/* IOPub subscriptions propagate asynchronously (the slow joiner): nudge with kernel_info until
 * an IOPub message parented to one arrives, as a client would. */
static void nudge(struct fx *f, const char *kid)
{
    for (int i = 0; i < 50; i++) {
        send_watched(f, kid, "kernel_info_request", json_object());
        if (run_until(f, watch_done, NULL, 400))
            return;
    }
    fail_msg("kernel %s never showed IOPub traffic", kid);
}

static void execute_ok(struct fx *f, const char *kid, const char *code, const char *expect_out)
{
    send_execute(f, kid, code);
    assert_true(run_until(f, watch_done, NULL, 30000));
    assert_true(f->busy);
    assert_string_equal(f->reply_status, "ok");
    if (expect_out)
        assert_non_null(strstr(f->stream, expect_out));
}

static void start_ok(struct fx *f, const char *spec, char id[37])
{
    struct done_rec d = {0};
    char why[256] = "";
    json_t *mo;

    assert_int_equal(kmgr_start(f->m, spec, f->tmp, NULL, NULL, id, why, sizeof why, done_cb, &d),
                     0);
    assert_int_equal(d.fired, 0); /* never from inside the call */
    assert_true(kmgr_exists(f->m, id));
    assert_true(run_until(f, done_fired, &d, 60000));
    assert_int_equal(d.fired, 1);
    assert_int_equal(d.status, 0);
    assert_string_equal(d.id, id);
    mo = kmgr_model(f->m, id);
    assert_non_null(mo);
    assert_string_equal(json_string_value(json_object_get(mo, "execution_state")), "idle");
    json_decref(mo);
    nudge(f, id);
}

static void shutdown_ok(struct fx *f, const char *id)
{
    struct done_rec d = {0};
    struct kmgr_record rec;
    struct lc_wait w = {id, "removed", 1};

    assert_int_equal(kmgr_record(f->m, id, &rec), 0);
    assert_int_equal(kmgr_shutdown(f->m, id, done_cb, &d), 0);
    assert_true(run_until(f, done_fired, &d, 30000));
    assert_int_equal(d.status, 0);
    assert_true(lc_reached(f, &w));
    assert_false(kmgr_exists(f->m, id));
    assert_null(kmgr_model(f->m, id));
    if (rec.pid > 0)
        assert_true(pid_gone(rec.pid));
    assert_int_equal(access(rec.connection_file, F_OK), -1);
}

static void make_manager(struct fx *f)
{
    f->m = kmgr_new(&f->loop, &f->specs, &f->opts, &g_events, f);
    assert_non_null(f->m);
}

static void free_manager(struct fx *f, int shutdown)
{
    kmgr_free(f->m, shutdown);
    f->m = NULL;
    /* let the closed handles go */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void rescan(struct fx *f)
{
    kspecs_dispose(&f->specs);
    assert_int_equal(kspecs_scan(&f->specs, NULL), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    const char *base = getenv("TMPDIR");
    char path[1400];

    if (!f)
        return -1;
    snprintf(f->tmp, sizeof f->tmp, "%s/test_kmgr.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(f->tmp))
        return -1;
    snprintf(f->runtime, sizeof f->runtime, "%s/runtime", f->tmp);
    snprintf(f->specdir, sizeof f->specdir, "%s/data", f->tmp);
    mkdir(f->specdir, 0755);
    snprintf(path, sizeof path, "%s/kernels", f->specdir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s:%s/.venv/share/jupyter", f->specdir, g_root);
    setenv("JUPYTER_PATH", path, 1);
    if (uv_loop_init(&f->loop) != 0)
        return -1;
    uv_timer_init(&f->loop, &f->timeout);
    f->timeout.data = f;
    jp_session_init(&f->ss, "test");
    f->opts.runtime_dir = f->runtime;
    f->opts.time_to_dead_ms = 500;
    f->opts.shutdown_wait_ms = 3000;
    f->opts.kernel_info_timeout_ms = 60000;
    if (kspecs_scan(&f->specs, NULL) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f->m)
        free_manager(f, 1);
    uv_close((uv_handle_t *)&f->timeout, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&f->loop) != 0) {
        fprintf(stderr, "loop still has handles\n");
        return -1;
    }
    kspecs_dispose(&f->specs);
    nftw(f->tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

#define NEED_CNOTE()                                                                               \
    do {                                                                                           \
        if (!g_have_cnote)                                                                         \
            skip();                                                                                \
    } while (0)
#define NEED_PYTHON()                                                                              \
    do {                                                                                           \
        if (!g_have_python)                                                                        \
            skip();                                                                                \
    } while (0)

/* ---- tests -------------------------------------------------------------------------- */

/* the hand-written JSON of GET /api/kernels says exactly what the jansson model says */
static void assert_list_write_matches(struct kmgr *m)
{
    struct jp_buf b;
    json_error_t err;
    json_t *want = kmgr_list(m), *got;

    jp_buf_init(&b, 1 << 20);
    assert_int_equal(kmgr_list_write(m, &b), 0);
    got = json_loads(b.data, 0, &err);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    jp_buf_reset(&b);
    assert_int_equal(kmgr_list_write(NULL, &b), 0);
    assert_string_equal(b.data, "[]");
    jp_buf_dispose(&b);
}

static void test_kmgr_start_unknown_spec(void **state)
{
    struct fx *f = *state;
    char id[37] = "", why[128] = "";
    struct done_rec d = {0};

    make_manager(f);
    assert_int_equal(
        kmgr_start(f->m, "no-such-kernel", NULL, NULL, NULL, id, why, sizeof why, done_cb, &d),
        JP_ENOENT);
    assert_true(why[0]);
    assert_int_equal(kmgr_count(f->m), 0);
    assert_int_equal(kmgr_interrupt(f->m, "nope"), JP_ENOENT);
    assert_int_equal(kmgr_shutdown(f->m, "nope", NULL, NULL), JP_ENOENT);
    assert_int_equal(kmgr_restart(f->m, "nope", NULL, NULL), JP_ENOENT);
    assert_null(kmgr_model(f->m, "nope"));
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(d.fired, 0);
}

static void test_kmgr_start_missing_binary_fails_cleanly(void **state)
{
    struct fx *f = *state;
    char id[37] = "", why[256] = "";
    struct done_rec d = {0};
    int fds;

    put_spec(f, "tkmissing",
             "{\"argv\":[\"/nonexistent/cnote-missing-kernel\",\"-f\",\"{connection_file}\"],"
             "\"display_name\":\"missing\",\"language\":\"c\"}");
    rescan(f);
    make_manager(f);
    /* the first failure also starts ZeroMQ's threads: count from the second */
    assert_int_equal(
        kmgr_start(f->m, "tkmissing", NULL, NULL, NULL, id, why, sizeof why, NULL, NULL), JP_EIO);
    fds = settled_fds(f, -1);
    assert_int_equal(
        kmgr_start(f->m, "tkmissing", NULL, NULL, NULL, id, why, sizeof why, done_cb, &d), JP_EIO);
    assert_non_null(strstr(why, "No such file"));
    assert_int_equal(kmgr_count(f->m), 0);
    assert_int_equal(count_files(f->runtime), 0);
    run_until(f, int_nonzero, &f->timed_out, 100);
    assert_int_equal(d.fired, 0);
    assert_int_equal(settled_fds(f, fds), fds);
    /* a kernel id that is not a plain token is refused before anything happens */
    assert_int_equal(
        kmgr_start(f->m, "tkmissing", NULL, NULL, "../evil", id, why, sizeof why, NULL, NULL),
        JP_EINVAL);
}

static void test_kmgr_start_execute_cnote(void **state)
{
    struct fx *f = *state;
    char id[37];
    json_t *list, *mo;
    struct kmgr_record rec;
    struct jp_msg *bad;

    NEED_CNOTE();
    make_manager(f);
    start_ok(f, "cnote", id);
    assert_int_equal(kmgr_count(f->m), 1);
    list = kmgr_list(f->m);
    assert_int_equal(json_array_size(list), 1);
    mo = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(mo, "id")), id);
    assert_string_equal(json_string_value(json_object_get(mo, "name")), "cnote");
    assert_int_equal(json_integer_value(json_object_get(mo, "connections")), 0);
    assert_true(json_is_string(json_object_get(mo, "last_activity")));
    json_decref(list);

    execute_ok(f, id, "printf(\"hello %d\\n\", 6 * 7);", "hello 42");
    assert_true(f->idle);

    /* connections are counted by the caller */
    kmgr_connections(f->m, id, 2);
    kmgr_connections(f->m, id, -1);
    mo = kmgr_model(f->m, id);
    assert_int_equal(json_integer_value(json_object_get(mo, "connections")), 1);
    json_decref(mo);
    assert_list_write_matches(f->m);

    /* the connection file is private */
    assert_int_equal(kmgr_record(f->m, id, &rec), 0);
    {
        struct stat st;
        assert_int_equal(stat(rec.connection_file, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    assert_true(rec.pid > 0);
    assert_int_equal(getpgid(rec.pid), rec.pid); /* its own process group */

    /* bad channel names */
    bad = jp_msg_new(&f->ss, "kernel_info_request", NULL, NULL);
    assert_int_equal(kmgr_send(f->m, id, "iopub", bad), JP_EINVAL);
    assert_int_equal(kmgr_send(f->m, "nope", "shell", bad), JP_ENOENT);
    jp_msg_free(bad);

    shutdown_ok(f, id);
    assert_int_equal(kmgr_count(f->m), 0);
}

static void test_kmgr_interrupt_cnote_message_mode(void **state)
{
    struct fx *f = *state;
    char id[37];
    json_t *mo;

    NEED_CNOTE();
    make_manager(f);
    start_ok(f, "cnote", id);
    send_execute(f, id, "for (;;);");
    assert_true(run_until(f, watch_busy, NULL, 10000));
    mo = kmgr_model(f->m, id);
    assert_string_equal(json_string_value(json_object_get(mo, "execution_state")), "busy");
    json_decref(mo);
    /* let it reach the loop: an interrupt during compilation is fine too, but test the run */
    run_until(f, int_nonzero, &f->timed_out, 1000);
    assert_int_equal(kmgr_interrupt(f->m, id), 0);
    assert_true(run_until(f, watch_done, NULL, 15000));
    assert_string_equal(f->reply_status, "error");
    assert_string_equal(f->ename, "KeyboardInterrupt");
    mo = kmgr_model(f->m, id);
    assert_string_equal(json_string_value(json_object_get(mo, "execution_state")), "idle");
    json_decref(mo);
    execute_ok(f, id, "printf(\"after\\n\");", "after");
    shutdown_ok(f, id);
}

static void test_kmgr_interrupt_ipykernel_signal_mode(void **state)
{
    struct fx *f = *state;
    char id[37];

    NEED_PYTHON();
    make_manager(f);
    start_ok(f, "python3", id);
    execute_ok(f, id, "print('py', 6 * 7)", "py 42");
    send_execute(f, id, "while True: pass");
    assert_true(run_until(f, watch_busy, NULL, 10000));
    run_until(f, int_nonzero, &f->timed_out, 300);
    assert_int_equal(kmgr_interrupt(f->m, id), 0);
    assert_true(run_until(f, watch_done, NULL, 15000));
    assert_string_equal(f->reply_status, "error");
    assert_string_equal(f->ename, "KeyboardInterrupt");
    execute_ok(f, id, "print('still here')", "still here");
    shutdown_ok(f, id);
}

static void test_kmgr_restart_keeps_ports_and_key(void **state)
{
    struct fx *f = *state;
    char id[37], why[256];
    struct jp_conn before, after;
    struct kmgr_record r1, r2;
    struct done_rec d = {0};

    NEED_CNOTE();
    make_manager(f);
    start_ok(f, "cnote", id);
    execute_ok(f, id, "int kept = 5;", NULL);
    assert_int_equal(kmgr_record(f->m, id, &r1), 0);
    assert_int_equal(jp_conn_load(r1.connection_file, &before, why, sizeof why), 0);
    assert_int_equal(kmgr_restart(f->m, id, done_cb, &d), 0);
    assert_int_equal(d.fired, 0);
    assert_true(run_until(f, done_fired, &d, 60000));
    assert_int_equal(d.status, 0);
    assert_int_equal(kmgr_record(f->m, id, &r2), 0);
    assert_int_equal(jp_conn_load(r2.connection_file, &after, why, sizeof why), 0);
    assert_string_equal(r1.connection_file, r2.connection_file);
    for (int i = 0; i < JP_CH_COUNT; i++)
        assert_int_equal(before.ports[i], after.ports[i]);
    assert_string_equal(before.key, after.key);
    assert_int_equal(strlen(before.key), 64);
    assert_string_equal(before.signature_scheme, "hmac-sha256");
    assert_string_equal(before.transport, "tcp");
    jp_conn_dispose(&before);
    jp_conn_dispose(&after);
    assert_true(r2.pid > 0 && r2.pid != r1.pid);
    assert_true(pid_gone(r1.pid));
    /* a manual restart is not an auto-restart */
    assert_int_equal(lc_count(f, id, "restarting"), 0);
    nudge(f, id);
    execute_ok(f, id, "printf(\"fresh\\n\");", "fresh");
    shutdown_ok(f, id);
}

static void test_kmgr_kill9_autorestarts(void **state)
{
    struct fx *f = *state;
    char id[37], why[256];
    struct kmgr_record r1, r2;
    struct jp_conn before, after;
    struct lc_wait w = {NULL, "autorestarted", 1};

    NEED_CNOTE();
    make_manager(f);
    start_ok(f, "cnote", id);
    w.id = id;
    assert_int_equal(kmgr_record(f->m, id, &r1), 0);
    assert_int_equal(jp_conn_load(r1.connection_file, &before, why, sizeof why), 0);
    assert_int_equal(kill(r1.pid, SIGKILL), 0);
    assert_true(run_until(f, lc_reached, &w, 30000));
    assert_int_equal(lc_count(f, id, "restarting"), 1);
    assert_int_equal(lc_count(f, id, "dead"), 0);
    assert_int_equal(kmgr_record(f->m, id, &r2), 0);
    assert_true(r2.pid > 0 && r2.pid != r1.pid);
    assert_int_equal(jp_conn_load(r2.connection_file, &after, why, sizeof why), 0);
    for (int i = 0; i < JP_CH_COUNT; i++)
        assert_int_equal(before.ports[i], after.ports[i]);
    jp_conn_dispose(&before);
    jp_conn_dispose(&after);
    nudge(f, id);
    execute_ok(f, id, "printf(\"back\\n\");", "back");
    shutdown_ok(f, id);
}

static void test_kmgr_restart_limit_then_dead(void **state)
{
    struct fx *f = *state;
    char id[37], why[256];
    struct done_rec d = {0};
    struct lc_wait w = {NULL, "dead", 1};
    json_t *mo;

    put_spec(f, "tkexit",
             "{\"argv\":[\"/bin/sh\",\"-c\",\"exit 3\",\"{connection_file}\"],"
             "\"display_name\":\"exits\",\"language\":\"sh\"}");
    rescan(f);
    f->opts.restart_limit = 2;
    make_manager(f);
    assert_int_equal(
        kmgr_start(f->m, "tkexit", NULL, NULL, "my-kernel-1", id, why, sizeof why, done_cb, &d), 0);
    assert_string_equal(id, "my-kernel-1");
    assert_int_equal(
        kmgr_start(f->m, "tkexit", NULL, NULL, "my-kernel-1", id, why, sizeof why, NULL, NULL),
        JP_EINVAL);
    assert_true(run_until(f, lc_reached, &w, 20000));
    assert_true(run_until(f, done_fired, &d, 1000));
    assert_int_equal(d.status, JP_EDEAD);
    assert_int_equal(lc_count(f, id, "restarting"), 2);
    mo = kmgr_model(f->m, id);
    assert_non_null(mo);
    assert_string_equal(json_string_value(json_object_get(mo, "execution_state")), "dead");
    assert_true(json_is_string(json_object_get(mo, "reason")));
    json_decref(mo);
    assert_list_write_matches(f->m); /* with a reason */
    assert_int_equal(kmgr_interrupt(f->m, id), 0);

    /* a dead kernel can be restarted by hand; this one dies again and gives up again */
    {
        struct done_rec r = {0};
        struct lc_wait w2 = {NULL, "dead", 2};
        w2.id = id;
        assert_int_equal(kmgr_restart(f->m, id, done_cb, &r), 0);
        assert_int_equal(r.fired, 0);
        assert_true(run_until(f, lc_reached, &w2, 20000));
        assert_true(run_until(f, done_fired, &r, 1000));
        assert_int_equal(r.status, JP_EDEAD);
        assert_int_equal(lc_count(f, id, "restarting"), 4);
    }
    shutdown_ok(f, id);
}

static void test_kmgr_readiness_timeout_and_forced_shutdown(void **state)
{
    struct fx *f = *state;
    char id[37], why[256];
    struct done_rec st = {0}, sd = {0};
    struct kmgr_record rec;
    json_t *mo;
    int64_t t0;

    /* never answers, ignores SIGINT and SIGTERM: only SIGKILL ends it */
    put_spec(f, "tkdeaf",
             "{\"argv\":[\"/bin/sh\",\"-c\",\"trap '' TERM INT; while :; do sleep 0.05; done\","
             "\"{connection_file}\"],\"display_name\":\"deaf\",\"language\":\"sh\"}");
    rescan(f);
    f->opts.kernel_info_timeout_ms = 500;
    f->opts.shutdown_wait_ms = 400;
    make_manager(f);
    assert_int_equal(
        kmgr_start(f->m, "tkdeaf", NULL, NULL, NULL, id, why, sizeof why, done_cb, &st), 0);
    assert_true(run_until(f, done_fired, &st, 5000));
    assert_int_equal(st.status, JP_ETIMEOUT);
    assert_true(st.reason[0]);
    mo = kmgr_model(f->m, id);
    assert_string_equal(json_string_value(json_object_get(mo, "execution_state")), "starting");
    json_decref(mo);
    assert_int_equal(kmgr_record(f->m, id, &rec), 0);
    assert_false(pid_gone(rec.pid));
    t0 = jp_time_mono_ms();
    assert_int_equal(kmgr_shutdown(f->m, id, done_cb, &sd), 0);
    assert_true(run_until(f, done_fired, &sd, 10000));
    assert_int_equal(sd.status, 0);
    assert_true(jp_time_mono_ms() - t0 >= 400 + 200); /* waited, SIGTERM, waited, SIGKILL */
    assert_true(pid_gone(rec.pid));
    assert_int_equal(lc_count(f, id, "removed"), 1);
    assert_int_equal(lc_count(f, id, "restarting"), 0);
    assert_int_equal(count_files(f->runtime), 0);
}

static void test_kmgr_shutdown_during_start(void **state)
{
    struct fx *f = *state;
    char id[37], why[256];
    struct done_rec st = {0}, s1 = {0}, s2 = {0};
    struct kmgr_record rec;

    NEED_CNOTE();
    make_manager(f);
    assert_int_equal(kmgr_start(f->m, "cnote", NULL, NULL, NULL, id, why, sizeof why, done_cb, &st),
                     0);
    assert_int_equal(kmgr_record(f->m, id, &rec), 0);
    /* two callers ask; both hear back; the start hears it was cut short */
    assert_int_equal(kmgr_shutdown(f->m, id, done_cb, &s1), 0);
    assert_int_equal(kmgr_shutdown(f->m, id, done_cb, &s2), 0);
    assert_int_equal(s1.fired + s2.fired + st.fired, 0);
    assert_true(run_until(f, done_fired, &s2, 20000));
    assert_int_equal(s1.fired, 1);
    assert_int_equal(s1.status, 0);
    assert_int_equal(s2.status, 0);
    assert_int_equal(st.fired, 1);
    assert_int_equal(st.status, JP_EIO);
    assert_int_equal(lc_count(f, id, "removed"), 1);
    assert_true(pid_gone(rec.pid));
    assert_int_equal(count_files(f->runtime), 0);
}

static void test_kmgr_launch_environment(void **state)
{
    struct fx *f = *state;
    char id[37], why[256], out[600], buf[16384], expect[1200];
    struct done_rec d = {0};
    struct lc_wait w = {NULL, "dead", 1};
    json_t *env;
    FILE *fp;
    size_t n;

    put_spec(f, "tkenv",
             "{\"argv\":[\"/bin/sh\",\"-c\",\"env > \\\"$OUT\\\"; pwd >> \\\"$OUT\\\"; "
             "echo \\\"arg0=$0\\\" >> \\\"$OUT\\\"; echo \\\"arg1=$1\\\" >> \\\"$OUT\\\"; "
             "ls -l /proc/$$/fd >> \\\"$OUT\\\"; exit 0\","
             "\"{connection_file}\",\"{resource_dir}/x {other}\"],"
             "\"display_name\":\"env\",\"language\":\"sh\","
             "\"env\":{\"OUT\":\"${TK_DIR}/env.txt\",\"FROM_SPEC\":\"${TK_HOME}-x\","
             "\"UNKNOWN\":\"${NO_SUCH_VAR_TK}\",\"BOTH\":\"spec\"}}");
    rescan(f);
    f->opts.restart_limit = -1;
    setenv("TK_HOME", "/home/tk", 1);
    make_manager(f);
    env = json_pack("{s:s, s:s, s:s}", "TK_DIR", f->tmp, "FROM_EXTRA", "e", "BOTH", "extra");
    assert_int_equal(kmgr_start(f->m, "tkenv", f->tmp, env, NULL, id, why, sizeof why, done_cb, &d),
                     0);
    json_decref(env);
    w.id = id;
    assert_true(run_until(f, lc_reached, &w, 20000));
    assert_true(run_until(f, done_fired, &d, 1000));
    assert_int_equal(d.status, JP_EDEAD);
    assert_int_equal(lc_count(f, id, "restarting"), 0);

    snprintf(out, sizeof out, "%s/env.txt", f->tmp);
    fp = fopen(out, "r");
    assert_non_null(fp);
    n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    snprintf(expect, sizeof expect, "\nJPY_PARENT_PID=%d\n", (int)getpid());
    assert_non_null(strstr(buf, expect));
    assert_non_null(strstr(buf, "\nFROM_SPEC=/home/tk-x\n"));
    assert_non_null(strstr(buf, "\nUNKNOWN=${NO_SUCH_VAR_TK}\n"));
    assert_non_null(strstr(buf, "\nFROM_EXTRA=e\n"));
    assert_non_null(strstr(buf, "\nBOTH=extra\n"));
    assert_non_null(strstr(buf, "\nTK_HOME=/home/tk\n")); /* the server's own environment */
    snprintf(expect, sizeof expect, "\n%s\n", f->tmp);    /* cwd */
    assert_non_null(strstr(buf, expect));
    snprintf(expect, sizeof expect, "\narg0=%s/kernel-%s.json\n", f->runtime, id);
    assert_non_null(strstr(buf, expect));
    snprintf(expect, sizeof expect, "\narg1=%s/kernels/tkenv/x {other}\n", f->specdir);
    assert_non_null(strstr(buf, expect));
    /* none of our sockets, eventfds, epoll or pipes leaked into the kernel; stdin is null */
    if (strstr(buf, "socket:") || strstr(buf, "anon_inode") || !strstr(buf, " 0 -> /dev/null"))
        fail_msg("descriptors leaked into the kernel:\n%s", buf);
    shutdown_ok(f, id);
    unsetenv("TK_HOME");
}

static void test_kmgr_shutdown_kernels_on_free(void **state)
{
    struct fx *f = *state;
    char id[37];
    struct kmgr_record rec;

    NEED_CNOTE();
    make_manager(f);
    start_ok(f, "cnote", id);
    assert_int_equal(kmgr_record(f->m, id, &rec), 0);
    free_manager(f, 1);
    assert_true(pid_gone(rec.pid));
    assert_int_equal(access(rec.connection_file, F_OK), -1);
}

static void test_kmgr_adopt_after_free_without_shutdown(void **state)
{
    struct fx *f = *state;
    char id[37];
    struct kmgr_record rec, bad;
    struct done_rec d = {0};

    NEED_CNOTE();
    make_manager(f);
    start_ok(f, "cnote", id);
    execute_ok(f, id, "int survivor = 41;", NULL);
    assert_int_equal(kmgr_record(f->m, id, &rec), 0);
    free_manager(f, 0);
    assert_false(pid_gone(rec.pid));
    assert_int_equal(access(rec.connection_file, F_OK), 0);

    make_manager(f);
    memset(&bad, 0, sizeof bad);
    assert_int_equal(kmgr_adopt(f->m, &bad, NULL, NULL), JP_EINVAL);
    bad = rec;
    snprintf(bad.connection_file, sizeof bad.connection_file, "%s/missing.json", f->tmp);
    assert_int_equal(kmgr_adopt(f->m, &bad, NULL, NULL), JP_EINVAL);
    assert_int_equal(kmgr_count(f->m), 0);

    assert_int_equal(kmgr_adopt(f->m, &rec, done_cb, &d), 0);
    assert_int_equal(kmgr_adopt(f->m, &rec, NULL, NULL), JP_EINVAL); /* already known */
    assert_true(run_until(f, done_fired, &d, 30000));
    assert_int_equal(d.status, 0);
    assert_true(kmgr_exists(f->m, id));
    nudge(f, id);
    /* the same process, with its state */
    execute_ok(f, id, "printf(\"%d\\n\", survivor + 1);", "42");
    shutdown_ok(f, id);
}

static void test_kmgr_adopt_dead_kernel_fails(void **state)
{
    struct fx *f = *state;
    char id[37];
    struct kmgr_record rec;
    struct done_rec d = {0};

    NEED_CNOTE();
    make_manager(f);
    start_ok(f, "cnote", id);
    assert_int_equal(kmgr_record(f->m, id, &rec), 0);
    free_manager(f, 0);
    kill(rec.pid, SIGKILL);
    waitpid(rec.pid, NULL, 0);
    make_manager(f);
    assert_int_equal(kmgr_adopt(f->m, &rec, done_cb, &d), 0);
    assert_true(run_until(f, done_fired, &d, 30000));
    assert_int_equal(d.status, JP_EDEAD);
    assert_false(kmgr_exists(f->m, id));
    assert_int_equal(access(rec.connection_file, F_OK), -1);
}

static void test_kmgr_cull_idle(void **state)
{
    struct fx *f = *state;
    char id[37];
    struct lc_wait w = {NULL, "removed", 1};

    NEED_CNOTE();
    f->opts.cull_idle_timeout_s = 1;
    f->opts.cull_interval_s = 1;
    make_manager(f);
    start_ok(f, "cnote", id);
    w.id = id;
    assert_true(run_until(f, lc_reached, &w, 15000));
    assert_int_equal(lc_count(f, id, "culled"), 1);
    assert_false(kmgr_exists(f->m, id));
}

static void test_kmgr_cull_respects_connections(void **state)
{
    struct fx *f = *state;
    char id[37];

    NEED_CNOTE();
    f->opts.cull_idle_timeout_s = 1;
    f->opts.cull_interval_s = 1;
    make_manager(f);
    start_ok(f, "cnote", id);
    kmgr_connections(f->m, id, 1);
    run_until(f, int_nonzero, &f->timed_out, 3000);
    assert_true(kmgr_exists(f->m, id));
    assert_int_equal(lc_count(f, id, "culled"), 0);
    shutdown_ok(f, id);
}

static void test_kmgr_many_kernels_no_fd_leak(void **state)
{
    struct fx *f = *state;
    const char *env_n = getenv("KMGR_TEST_KERNELS"); /* for manual scaling runs */
    int N = env_n ? (int)strtol(env_n, NULL, 10) : 50;
    char(*ids)[37], id0[37], why[256];
    struct done_rec *d, *s;
    pid_t *pids;
    int fds_before, fds_after, ok = 0;
    int64_t t0;

    NEED_CNOTE();
    if (N < 1)
        N = 50;
    ids = calloc((size_t)N, sizeof *ids);
    d = calloc((size_t)N, sizeof *d);
    s = calloc((size_t)N, sizeof *s);
    pids = calloc((size_t)N, sizeof *pids);
    assert_true(ids && d && s && pids);
    make_manager(f);
    /* warm up: the ZeroMQ context's threads and descriptors exist from the first kernel on */
    start_ok(f, "cnote", id0);
    shutdown_ok(f, id0);
    fds_before = settled_fds(f, -1);
    t0 = jp_time_mono_ms();
    for (int i = 0; i < N; i++)
        assert_int_equal(
            kmgr_start(f->m, "cnote", NULL, NULL, NULL, ids[i], why, sizeof why, done_cb, &d[i]),
            0);
    assert_int_equal(kmgr_count(f->m), N);
    for (int i = 0; i < N; i++) {
        struct kmgr_record r;
        assert_true(run_until(f, done_fired, &d[i], 120000));
        assert_int_equal(d[i].status, 0);
        assert_int_equal(kmgr_record(f->m, ids[i], &r), 0);
        pids[i] = r.pid;
        ok++;
    }
    print_message("%d kernels ready in %lld ms\n", ok, (long long)(jp_time_mono_ms() - t0));
    t0 = jp_time_mono_ms();
    for (int i = 0; i < N; i++)
        assert_int_equal(kmgr_shutdown(f->m, ids[i], done_cb, &s[i]), 0);
    for (int i = 0; i < N; i++) {
        assert_true(run_until(f, done_fired, &s[i], 60000));
        assert_int_equal(s[i].status, 0);
        assert_true(pid_gone(pids[i]));
    }
    print_message("%d kernels shut down in %lld ms\n", N, (long long)(jp_time_mono_ms() - t0));
    assert_int_equal(kmgr_count(f->m), 0);
    assert_int_equal(count_files(f->runtime), 0);
    fds_after = settled_fds(f, fds_before);
    assert_int_equal(fds_after, fds_before);
    free(ids);
    free(d);
    free(s);
    free(pids);
}

/* ---- a fake kernel on a thread, to forge signatures ----------------------------------- */

struct fake {
    char conn_path[600];
    volatile int stop;
    pthread_t th;
    int forged_sent;
};

static void fake_send(void *sock, const struct jp_msg *m, struct jp_signer *sg)
{
    struct jp_frame *fr;
    size_t n;

    assert_int_equal(jp_wire_encode(m, sg, &fr, &n), 0);
    for (size_t i = 0; i < n; i++)
        zmq_send(sock, fr[i].data, fr[i].len, i + 1 < n ? ZMQ_SNDMORE : 0);
    jp_frames_free(fr, n);
}

static int fake_recv(void *sock, struct jp_signer *sg, struct jp_msg **out)
{
    zmq_msg_t parts[64];
    struct jp_frame fr[64];
    size_t n = 0;
    int more = 1, rc;

    while (more && n < 64) {
        size_t len = sizeof more;
        zmq_msg_init(&parts[n]);
        if (zmq_msg_recv(&parts[n], sock, 0) < 0) {
            zmq_msg_close(&parts[n]);
            break;
        }
        fr[n].data = zmq_msg_data(&parts[n]);
        fr[n].len = zmq_msg_size(&parts[n]);
        n++;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len);
    }
    rc = jp_wire_decode(fr, n, sg, NULL, out, NULL);
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return rc;
}

static void fake_status(void *pub, struct jp_session *ss, struct jp_signer *sg,
                        const struct jp_msg *parent, const char *state)
{
    struct jp_msg *st =
        jp_msg_new(ss, "status", parent->header, json_pack("{s:s}", "execution_state", state));
    fake_send(pub, st, sg);
    jp_msg_free(st);
}

static void *fake_main(void *arg)
{
    struct fake *fk = arg;
    void *ctx = zmq_ctx_new();
    static const int types[JP_CH_COUNT] = {ZMQ_ROUTER, ZMQ_PUB, ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_REP};
    void *s[JP_CH_COUNT];
    struct jp_conn c;
    struct jp_session ss;
    struct jp_signer *good = jp_signer_new("fake-key", 8, 0);
    struct jp_signer *forger = jp_signer_new("wrong-key", 9, 0);
    int zero = 0;

    memset(&c, 0, sizeof c);
    snprintf(c.transport, sizeof c.transport, "tcp");
    snprintf(c.ip, sizeof c.ip, "127.0.0.1");
    snprintf(c.signature_scheme, sizeof c.signature_scheme, "hmac-sha256");
    snprintf(c.kernel_name, sizeof c.kernel_name, "fake");
    c.key = jp_memdup("fake-key", 9);
    c.key_len = 8;
    jp_session_init(&ss, "fake");
    for (int i = 0; i < JP_CH_COUNT; i++) {
        char ep[128];
        size_t len = sizeof ep;
        s[i] = zmq_socket(ctx, types[i]);
        zmq_setsockopt(s[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_bind(s[i], "tcp://127.0.0.1:*");
        zmq_getsockopt(s[i], ZMQ_LAST_ENDPOINT, ep, &len);
        c.ports[i] = (int)strtol(strrchr(ep, ':') + 1, NULL, 10);
    }
    jp_conn_save(&c, fk->conn_path);
    while (!fk->stop) {
        zmq_pollitem_t items[3] = {{s[JP_CH_SHELL], 0, ZMQ_POLLIN, 0},
                                   {s[JP_CH_CONTROL], 0, ZMQ_POLLIN, 0},
                                   {s[JP_CH_HB], 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 3, 50) <= 0)
            continue;
        if (items[2].revents & ZMQ_POLLIN) {
            char b[64];
            int n = zmq_recv(s[JP_CH_HB], b, sizeof b, 0);
            if (n > 0)
                zmq_send(s[JP_CH_HB], b, (size_t)n, 0);
        }
        for (int i = 0; i < 2; i++) {
            void *sock = items[i].socket;
            struct jp_msg *req = NULL, *rep;
            const char *t;
            if (!(items[i].revents & ZMQ_POLLIN) || fake_recv(sock, good, &req) != 0) {
                jp_msg_free(req);
                continue;
            }
            t = jp_msg_type(req);
            fake_status(s[JP_CH_IOPUB], &ss, good, req, "busy");
            if (strcmp(t, "kernel_info_request") == 0) {
                /* a forged stream and a forged reply a client would see if not verified */
                struct jp_msg *fs =
                    jp_msg_new(&ss, "stream", req->header,
                               json_pack("{s:s, s:s}", "name", "stdout", "text", "forged"));
                struct jp_msg *fr;
                json_t *ph = json_deep_copy(req->header);
                fake_send(s[JP_CH_IOPUB], fs, forger);
                jp_msg_free(fs);
                json_object_set_new(ph, "session", json_string("someone-else"));
                json_object_set_new(ph, "msg_id", json_string("forged-parent"));
                fr = jp_msg_new(&ss, "execute_reply", ph, json_pack("{s:s}", "status", "ok"));
                jp_msg_set_idents(fr, req->idents, req->n_idents);
                fake_send(sock, fr, forger);
                jp_msg_free(fr);
                json_decref(ph);
                fs = jp_msg_new(&ss, "stream", req->header,
                                json_pack("{s:s, s:s}", "name", "stdout", "text", "genuine"));
                fake_send(s[JP_CH_IOPUB], fs, good);
                jp_msg_free(fs);
                fk->forged_sent++;
                rep = jp_msg_reply(
                    &ss, req, "kernel_info_reply",
                    json_pack("{s:s, s:s}", "status", "ok", "protocol_version", "5.3"));
            } else if (strcmp(t, "shutdown_request") == 0) {
                rep = jp_msg_reply(&ss, req, "shutdown_reply",
                                   json_pack("{s:s, s:b}", "status", "ok", "restart", 0));
            } else {
                rep = jp_msg_reply(&ss, req, "error_reply", json_pack("{s:s}", "status", "error"));
            }
            fake_send(sock, rep, good);
            jp_msg_free(rep);
            fake_status(s[JP_CH_IOPUB], &ss, good, req, "idle");
            jp_msg_free(req);
        }
    }
    for (int i = 0; i < JP_CH_COUNT; i++)
        zmq_close(s[i]);
    zmq_ctx_term(ctx);
    jp_conn_dispose(&c);
    jp_signer_free(good);
    jp_signer_free(forger);
    return NULL;
}

static int file_exists(struct fx *f, void *arg)
{
    (void)f;
    return access((const char *)arg, F_OK) == 0;
}

static int saw_genuine(struct fx *f, void *arg)
{
    (void)arg;
    return strstr(f->all_stream, "genuine|") != NULL;
}

static void test_kmgr_adopt_pidless_drops_bad_signatures(void **state)
{
    struct fx *f = *state;
    struct fake fk;
    struct kmgr_record rec;
    struct done_rec d = {0}, s = {0};
    struct lc_wait w = {"fake-kernel-1", "removed", 1};

    memset(&fk, 0, sizeof fk);
    snprintf(fk.conn_path, sizeof fk.conn_path, "%s/kernel-fake.json", f->tmp);
    assert_int_equal(pthread_create(&fk.th, NULL, fake_main, &fk), 0);
    assert_true(run_until(f, file_exists, fk.conn_path, 10000));
    make_manager(f);
    memset(&rec, 0, sizeof rec);
    snprintf(rec.id, sizeof rec.id, "fake-kernel-1");
    snprintf(rec.name, sizeof rec.name, "no-such-spec");
    snprintf(rec.connection_file, sizeof rec.connection_file, "%s", fk.conn_path);
    rec.pid = 0; /* unknown: liveness by heartbeat only */
    assert_int_equal(kmgr_adopt(f->m, &rec, done_cb, &d), 0);
    assert_true(run_until(f, done_fired, &d, 10000));
    assert_int_equal(d.status, 0);
    nudge(f, "fake-kernel-1");
    assert_true(run_until(f, saw_genuine, NULL, 5000));
    /* a few heartbeats go by without the kernel being declared dead */
    run_until(f, int_nonzero, &f->timed_out, 1600);
    assert_true(kmgr_exists(f->m, "fake-kernel-1"));
    assert_true(fk.forged_sent > 0);
    assert_null(strstr(f->all_stream, "forged"));
    assert_int_equal(f->forged_replies, 0);
    /* a pid-less kernel is gone when it acknowledged the shutdown */
    assert_int_equal(kmgr_shutdown(f->m, "fake-kernel-1", done_cb, &s), 0);
    assert_true(run_until(f, done_fired, &s, 10000));
    assert_int_equal(s.status, 0);
    assert_true(lc_reached(f, &w));
    fk.stop = 1;
    pthread_join(fk.th, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kmgr_start_unknown_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_start_missing_binary_fails_cleanly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_start_execute_cnote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_interrupt_cnote_message_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_interrupt_ipykernel_signal_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_restart_keeps_ports_and_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_kill9_autorestarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_restart_limit_then_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_launch_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_readiness_timeout_and_forced_shutdown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_shutdown_during_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_shutdown_kernels_on_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_adopt_after_free_without_shutdown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_adopt_dead_kernel_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_adopt_pidless_drops_bad_signatures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_cull_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_cull_respects_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kmgr_many_kernels_no_fd_leak, setup, teardown),
    };
    char p[1200];

    if (!getcwd(g_root, sizeof g_root))
        return 1;
    snprintf(p, sizeof p, "%s/.venv/share/jupyter/kernels/cnote/kernel.json", g_root);
    g_have_cnote = access(p, F_OK) == 0;
    snprintf(p, sizeof p, "%s/.venv/share/jupyter/kernels/python3/kernel.json", g_root);
    g_have_python = access(p, F_OK) == 0;
    if (!g_have_cnote || !g_have_python)
        fprintf(stderr,
                "test_kmgr: kernelspecs missing under %s/.venv (make install-kernelspec); "
                "kernel tests skip\n",
                g_root);
    /* the kernels inherit stderr: keep their logs (and ours) quiet unless asked */
    if (!getenv("KMGR_TEST_VERBOSE"))
        jp_log_set_level("warn");
    if (getenv("KMGR_TEST_FILTER")) /* e.g. "*many*" */
        cmocka_set_test_filter(getenv("KMGR_TEST_FILTER"));
    return cmocka_run_group_tests_name("kmgr", tests, NULL, NULL);
}
