/*
 * test_contents.c - unit tests for server/contents.c on a scratch directory per test: path
 * escapes (.., absolute paths, backslashes, symlinks out of the root, NUL bytes, long names,
 * non-UTF-8, hidden names) answer the right 4xx and leave both the root and the outside
 * untouched; every entry point's happy path and errors with Jupyter Server's messages;
 * atomic saves that keep the old file when the write fails (RLIMIT_FSIZE makes write(2)
 * fail even for root) or is refused; chunked uploads; untitled and copy naming; checkpoints;
 * and the byte-identical GET -> PUT round trip of the notebooks nbformat wrote in
 * tests/data/notebooks. Does not test the HTTP layer.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "contents.h"
#include "jp_log.h"

#ifndef CONTENTS_TESTDATA
#define CONTENTS_TESTDATA "tests/data/notebooks"
#endif

static const char *const fixtures[] = {"rich_v45.ipynb", "v40_noids.ipynb", "attachments_v44.ipynb",
                                       "empty.ipynb", "floats.ipynb"};

struct fx {
    char base[PATH_MAX];    /* scratch directory holding root/ and outside/ */
    char root[PATH_MAX];    /* the contents root */
    char outside[PATH_MAX]; /* a directory next to the root, which must never change */
    struct contents *c;
};

/* ---- helpers ----------------------------------------------------------------------------- */

static void pathf(char *out, const char *dir, const char *rel)
{
    assert_true(snprintf(out, PATH_MAX, "%s/%s", dir, rel) < PATH_MAX);
}

static void put_file(const char *dir, const char *rel, const void *data, size_t len)
{
    char p[PATH_MAX];
    FILE *f;

    pathf(p, dir, rel);
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void put_text(const char *dir, const char *rel, const char *s)
{
    put_file(dir, rel, s, strlen(s));
}

static void make_dir(const char *dir, const char *rel)
{
    char p[PATH_MAX];

    pathf(p, dir, rel);
    assert_int_equal(mkdir(p, 0777), 0);
}

static void make_link(const char *target, const char *dir, const char *rel)
{
    char p[PATH_MAX];

    pathf(p, dir, rel);
    assert_int_equal(symlink(target, p), 0);
}

/* The file's bytes (malloc'd, NUL-terminated) or NULL if it cannot be read. */
static char *get_file(const char *dir, const char *rel, size_t *len)
{
    char p[PATH_MAX];
    FILE *f;
    char *buf;
    long n;

    pathf(p, dir, rel);
    f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static void assert_file_eq(const char *dir, const char *rel, const char *want)
{
    size_t len;
    char *got = get_file(dir, rel, &len);

    if (!got)
        fail_msg("%s/%s does not exist", dir, rel);
    if (len != strlen(want) || memcmp(got, want, len) != 0)
        fail_msg("%s: got %s, want %s", rel, got, want);
    free(got);
}

static int path_exists(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;

    pathf(p, dir, rel);
    return lstat(p, &st) == 0;
}

static char *slurp_fixture(const char *name, size_t *len)
{
    char *data = get_file(CONTENTS_TESTDATA, name, len);

    if (!data)
        fail_msg("cannot read fixture %s/%s (run from the repository root)", CONTENTS_TESTDATA,
                 name);
    return data;
}

/* A listing of a tree (paths, modes, sizes, file mtimes, link targets) to prove nothing
 * changed. Directory mtimes are left out: a temporary file made and removed again moves them. */
static char snap_buf[65536];
static size_t snap_len;

static int snap_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    char target[PATH_MAX] = "";

    (void)flag;
    (void)ftw;
    if (S_ISLNK(st->st_mode)) {
        ssize_t n = readlink(p, target, sizeof target - 1);

        target[n > 0 ? n : 0] = '\0';
    }
    snap_len += (size_t)snprintf(snap_buf + snap_len, sizeof snap_buf - snap_len,
                                 "%s %o %lld %lld.%09ld %s\n", p, (unsigned)st->st_mode,
                                 S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size,
                                 S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_mtim.tv_sec,
                                 S_ISDIR(st->st_mode) ? 0L : st->st_mtim.tv_nsec, target);
    assert_true(snap_len < sizeof snap_buf);
    return 0;
}

static char *snapshot(const char *dir)
{
    snap_len = 0;
    snap_buf[0] = '\0';
    assert_int_equal(nftw(dir, snap_entry, 16, FTW_PHYS), 0);
    return strdup(snap_buf);
}

static void assert_unchanged(const char *dir, char *before)
{
    char *after = snapshot(dir);

    if (strcmp(before, after) != 0)
        fail_msg("tree changed:\nbefore:\n%s\nafter:\n%s", before, after);
    free(before);
    free(after);
}

/* An error answer: the status, and {"message": str containing `part`, "reason": str|null}.
 * Takes the address of the out variable: C does not order the evaluation of arguments, so
 * the call that fills it must be done before its value is read. */
static void check_error(int rc, json_t **outp, int status, const char *part)
{
    json_t *out = *outp;
    const json_t *msg = json_object_get(out, "message"), *reason;

    if (rc != status) {
        char *s = json_dumps(out, 0);

        fail_msg("status %d, want %d: %s", rc, status, s ? s : "(null)");
    }
    assert_non_null(out);
    assert_true(json_is_string(msg));
    reason = json_object_get(out, "reason");
    assert_true(json_is_string(reason) || json_is_null(reason));
    if (part && !strstr(json_string_value(msg), part))
        fail_msg("message \"%s\" lacks \"%s\"", json_string_value(msg), part);
    json_decref(out);
    *outp = NULL;
}

static const char *sget(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    if (!s)
        fail_msg("\"%s\" is not a string", key);
    return s;
}

static int is_iso_time(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SS.ffffffZ */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

    if (strlen(s) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    return 1;
}

/* Every key Jupyter's _base_model has, with the types JupyterLab checks. */
static void check_model(const json_t *m, const char *path, const char *type)
{
    static const char *const keys[] = {"name",    "path",     "type",   "writable",
                                       "created", "content",  "format", "last_modified",
                                       "size",    "mimetype", "hash",   "hash_algorithm"};
    const char *slash = strrchr(path, '/');

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(m, keys[i]))
            fail_msg("model lacks \"%s\"", keys[i]);
    assert_string_equal(sget(m, "path"), path);
    assert_string_equal(sget(m, "name"), slash ? slash + 1 : path);
    assert_string_equal(sget(m, "type"), type);
    assert_true(json_is_boolean(json_object_get(m, "writable")));
    assert_true(is_iso_time(sget(m, "created")));
    assert_true(is_iso_time(sget(m, "last_modified")));
}

static int count_temp_files(const char *dir)
{
    char cmd[PATH_MAX + 64];
    FILE *p;
    int n = 0, ch;

    snprintf(cmd, sizeof cmd, "find '%s' -name '.~cnote-*'", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    while ((ch = fgetc(p)) != EOF)
        n += ch == '\n';
    pclose(p);
    return n;
}

static json_t *jload(const char *s)
{
    json_error_t err;
    json_t *v = json_loads(s, JSON_ALLOW_NUL, &err);

    if (!v)
        fail_msg("bad test JSON: %s", err.text);
    return v;
}

/* PUT a JSON model given as text. */
static int save_json(struct contents *c, const char *path, const char *model, json_t **out)
{
    json_t *m = jload(model);
    int rc = contents_save(c, path, m, out);

    json_decref(m);
    return rc;
}

static int create_json(struct contents *c, const char *dir, const char *body, json_t **out)
{
    json_t *b = body ? jload(body) : NULL;
    int rc = contents_create(c, dir, b, out);

    json_decref(b);
    return rc;
}

/* Make file writes fail past `limit` bytes (works as root too); limit 0 restores. */
static void limit_file_size(rlim_t limit)
{
    static struct rlimit saved;
    struct rlimit rl;

    if (limit) {
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
        rl = saved;
        rl.rlim_cur = limit;
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    } else {
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    }
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        chmod(p, 0700), rmdir(p);
    else
        unlink(p);
    return 0;
}

static int setup_opts(void **state, int allow_hidden, size_t max_bytes)
{
    struct fx *f = calloc(1, sizeof *f);
    struct contents_opts o = {allow_hidden, max_bytes};

    assert_non_null(f);
    snprintf(f->base, sizeof f->base, "/tmp/cnote-contents-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    pathf(f->root, f->base, "root");
    pathf(f->outside, f->base, "outside");
    assert_int_equal(mkdir(f->root, 0777), 0);
    assert_int_equal(mkdir(f->outside, 0777), 0);
    put_text(f->outside, "secret.txt", "top secret\n");
    f->c = contents_new(f->root, &o);
    assert_non_null(f->c);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_opts(state, 0, 0);
}

static int setup_hidden(void **state)
{
    return setup_opts(state, 1, 0);
}

static int setup_small(void **state)
{
    return setup_opts(state, 0, 100);
}

static int teardown(void **state)
{
    struct fx *f = *state;

    contents_free(f->c);
    nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- path safety ------------------------------------------------------------------------- */

static void test_contents_resolve_dotdot_is_400_and_touches_nothing(void **state)
{
    static const char *const paths[] = {
        "..",        "../outside/secret.txt", "a/../b", "a/..", "./a", "a/./b",
        "sub/../..", "../root/x.txt"};
    struct fx *f = *state;
    char *before, *outside;
    json_t *out = NULL;

    make_dir(f->root, "a");
    put_text(f->root, "a/b.txt", "b");
    before = snapshot(f->root);
    outside = snapshot(f->outside);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        check_error(contents_get(f->c, paths[i], NULL, NULL, 1, 0, &out), &out, 400, "'..'");
        check_error(save_json(f->c, paths[i],
                              "{\"type\":\"file\",\"format\":\"text\","
                              "\"content\":\"x\"}",
                              &out),
                    &out, 400, "not allowed");
        check_error(contents_delete(f->c, paths[i], &out), &out, 400, "not allowed");
        check_error(contents_rename(f->c, "a/b.txt", paths[i], &out), &out, 400, "not allowed");
        check_error(contents_rename(f->c, paths[i], "z", &out), &out, 400, "not allowed");
        check_error(create_json(f->c, paths[i], NULL, &out), &out, 400, "not allowed");
        check_error(contents_checkpoint_create(f->c, paths[i], &out), &out, 400, "not allowed");
    }
    assert_unchanged(f->root, before);
    assert_unchanged(f->outside, outside);
}

static void test_contents_resolve_absolute_path_is_400(void **state)
{
    struct fx *f = *state;
    char abs[PATH_MAX], *before = snapshot(f->outside);
    json_t *out = NULL;
    char *fs = NULL;

    pathf(abs, f->outside, "secret.txt");
    check_error(contents_get(f->c, abs, NULL, NULL, 1, 0, &out), &out, 400,
                "not a relative API path");
    check_error(contents_get(f->c, "/", NULL, NULL, 1, 0, &out), &out, 400, "relative");
    check_error(
        save_json(f->c, abs, "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
        &out, 400, "relative");
    check_error(contents_delete(f->c, abs, &out), &out, 400, "relative");
    assert_int_equal(contents_fs_path(f->c, abs, &fs), 400);
    assert_null(fs);
    assert_unchanged(f->outside, before);
}

static void test_contents_resolve_backslash_is_400(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    check_error(contents_get(f->c, "a\\..\\..\\outside", NULL, NULL, 1, 0, &out), &out, 400,
                "Backslashes");
    check_error(save_json(f->c, "x\\y.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
                &out, 400, "Backslashes");
    assert_false(path_exists(f->root, "x\\y.txt"));
}

static void test_contents_resolve_long_names(void **state)
{
    struct fx *f = *state;
    char name[NAME_MAX + 2], path[2 * NAME_MAX + 8];
    json_t *out = NULL;

    memset(name, 'n', NAME_MAX + 1);
    name[NAME_MAX + 1] = '\0';
    check_error(contents_get(f->c, name, NULL, NULL, 1, 0, &out), &out, 400, "longer than 255");
    check_error(
        save_json(f->c, name, "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
        &out, 400, "longer than 255");
    snprintf(path, sizeof path, "dir/%s", name);
    check_error(contents_delete(f->c, path, &out), &out, 400, "longer than 255");
    /* exactly NAME_MAX is fine */
    name[NAME_MAX] = '\0';
    assert_int_equal(
        save_json(f->c, name, "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
        201);
    json_decref(out);
    assert_true(path_exists(f->root, name));
    /* a whole path over PATH_MAX */
    {
        char *huge = malloc(PATH_MAX + 10);

        assert_non_null(huge);
        for (size_t i = 0; i < PATH_MAX + 9; i++)
            huge[i] = i % 100 == 99 ? '/' : 'd';
        huge[PATH_MAX + 9] = '\0';
        check_error(contents_get(f->c, huge, NULL, NULL, 1, 0, &out), &out, 400, "too long");
        free(huge);
    }
}

static void test_contents_resolve_symlink_out_of_root_is_404(void **state)
{
    struct fx *f = *state;
    char target[PATH_MAX], *before_out, *before_root, *fs = NULL;
    json_t *out = NULL, *list;

    pathf(target, f->outside, "secret.txt");
    make_link(f->outside, f->root, "outdir");
    make_link(target, f->root, "pw.txt");
    make_dir(f->root, "sub");
    make_link("../../outside", f->root, "sub/rel");
    before_out = snapshot(f->outside);
    before_root = snapshot(f->root);

    check_error(contents_get(f->c, "outdir", NULL, NULL, 1, 0, &out), &out, 404,
                "outside root contents directory");
    check_error(contents_get(f->c, "outdir/secret.txt", NULL, NULL, 1, 0, &out), &out, 404,
                "outside root");
    check_error(contents_get(f->c, "pw.txt", NULL, NULL, 1, 0, &out), &out, 404, "outside root");
    check_error(contents_get(f->c, "sub/rel/secret.txt", NULL, NULL, 1, 1, &out), &out, 404,
                "outside root");
    check_error(save_json(f->c, "outdir/new.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
                &out, 404, "outside root");
    check_error(save_json(f->c, "pw.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
                &out, 404, "outside root");
    check_error(contents_delete(f->c, "outdir", &out), &out, 404, "outside root");
    check_error(contents_delete(f->c, "pw.txt", &out), &out, 404, "outside root");
    check_error(contents_rename(f->c, "pw.txt", "mine.txt", &out), &out, 404, "outside root");
    check_error(create_json(f->c, "outdir", NULL, &out), &out, 404, "outside root");
    check_error(create_json(f->c, "", "{\"copy_from\": \"pw.txt\"}", &out), &out, 404,
                "outside root");
    check_error(contents_checkpoint_create(f->c, "pw.txt", &out), &out, 404, "outside root");
    check_error(contents_checkpoints_list(f->c, "outdir/secret.txt", &out), &out, 404,
                "outside root");
    assert_int_equal(contents_fs_path(f->c, "outdir", &fs), 404);
    assert_null(fs);

    /* never listed */
    assert_int_equal(contents_get(f->c, "", NULL, NULL, 1, 0, &out), 200);
    list = json_object_get(out, "content");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sget(json_array_get(list, 0), "name"), "sub");
    json_decref(out);
    assert_int_equal(contents_get(f->c, "sub", NULL, NULL, 1, 0, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "content")), 0);
    json_decref(out);

    assert_unchanged(f->outside, before_out);
    assert_unchanged(f->root, before_root);
}

static void test_contents_resolve_symlink_inside_root_is_followed(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    struct stat st;
    char p[PATH_MAX];

    make_dir(f->root, "real");
    put_text(f->root, "real/data.txt", "data");
    make_link("real", f->root, "alias");
    make_link("real/data.txt", f->root, "link.txt");

    assert_int_equal(contents_get(f->c, "alias/data.txt", NULL, NULL, 1, 0, &out), 200);
    assert_string_equal(sget(out, "content"), "data");
    assert_string_equal(sget(out, "path"), "alias/data.txt");
    json_decref(out);
    assert_int_equal(contents_get(f->c, "", NULL, NULL, 1, 0, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "content")), 3);
    assert_string_equal(sget(json_array_get(json_object_get(out, "content"), 0), "type"),
                        "directory");
    json_decref(out);

    /* a save through the link writes the target and keeps the link */
    assert_int_equal(save_json(f->c, "link.txt",
                               "{\"type\":\"file\",\"format\":\"text\",\"content\":\"new\"}", &out),
                     200);
    json_decref(out);
    assert_file_eq(f->root, "real/data.txt", "new");
    pathf(p, f->root, "link.txt");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    /* deleting the link leaves the target */
    assert_int_equal(contents_delete(f->c, "alias", &out), 204);
    assert_null(out);
    assert_false(path_exists(f->root, "alias"));
    assert_file_eq(f->root, "real/data.txt", "new");
}

static void test_contents_resolve_dangling_symlink(void **state)
{
    struct fx *f = *state;
    char target[PATH_MAX];
    json_t *out = NULL;

    pathf(target, f->outside, "not-there.txt");
    make_link(target, f->root, "broken.txt");
    check_error(contents_get(f->c, "broken.txt", NULL, NULL, 1, 0, &out), &out, 404,
                "does not exist");
    check_error(save_json(f->c, "broken.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
                &out, 400, "broken symbolic link");
    assert_false(path_exists(f->outside, "not-there.txt"));
    assert_int_equal(contents_delete(f->c, "broken.txt", &out), 204);
    assert_false(path_exists(f->root, "broken.txt"));
}

static void test_contents_resolve_nul_in_body_paths_is_400(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL, *body;

    put_text(f->root, "a.txt", "a");
    body = json_pack("{s:s%}", "copy_from", "a.txt\0../../outside/secret.txt", (size_t)30);
    assert_non_null(body);
    check_error(contents_create(f->c, "", body, &out), &out, 400, "NUL");
    json_decref(body);
    body = json_pack("{s:s%}", "ext", ".txt\0/../x", (size_t)10);
    check_error(contents_create(f->c, "", body, &out), &out, 400, "ext");
    json_decref(body);
}

static void test_contents_resolve_non_utf8_path_is_400(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    check_error(contents_get(f->c, "bad\xff.txt", NULL, NULL, 1, 0, &out), &out, 400, "UTF-8");
}

static void test_contents_resolve_hidden_paths(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL, *list;
    char *before;

    put_text(f->root, ".env", "SECRET=1");
    make_dir(f->root, ".git");
    put_text(f->root, ".git/config", "x");
    put_text(f->root, "visible.txt", "v");
    before = snapshot(f->root);
    check_error(contents_get(f->c, ".env", NULL, NULL, 1, 0, &out), &out, 404, "does not exist");
    check_error(contents_get(f->c, ".git/config", NULL, NULL, 1, 0, &out), &out, 404, NULL);
    check_error(
        save_json(f->c, ".env", "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
        &out, 400, "Cannot create file or directory '.env'");
    check_error(save_json(f->c, "ok.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\","
                          "\"path\":\".sneaky\"}",
                          &out),
                &out, 400, "Cannot create");
    check_error(contents_delete(f->c, ".git", &out), &out, 400, "Cannot delete file or directory");
    check_error(contents_rename(f->c, "visible.txt", ".hidden", &out), &out, 400,
                "Cannot rename file or directory");
    check_error(contents_rename(f->c, ".env", "env", &out), &out, 400, "Cannot rename");
    check_error(create_json(f->c, "", "{\"copy_from\": \".env\"}", &out), &out, 400,
                "Cannot copy file or directory");
    check_error(create_json(f->c, ".git", NULL, &out), &out, 400, "Cannot create");
    assert_int_equal(contents_get(f->c, "", NULL, NULL, 1, 0, &out), 200);
    list = json_object_get(out, "content");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sget(json_array_get(list, 0), "name"), "visible.txt");
    json_decref(out);
    assert_unchanged(f->root, before);
}

static void test_contents_resolve_allow_hidden(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL, *list;

    put_text(f->root, ".env", "SECRET=1");
    make_dir(f->root, ".ipynb_checkpoints");
    assert_int_equal(contents_get(f->c, ".env", NULL, NULL, 1, 0, &out), 200);
    assert_string_equal(sget(out, "content"), "SECRET=1");
    json_decref(out);
    assert_int_equal(contents_get(f->c, "", NULL, NULL, 1, 0, &out), 200);
    list = json_object_get(out, "content");
    /* the checkpoint directory is never listed */
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sget(json_array_get(list, 0), "name"), ".env");
    json_decref(out);
    assert_int_equal(contents_checkpoint_create(f->c, ".env", &out), 201);
    json_decref(out);
    assert_true(path_exists(f->root, ".ipynb_checkpoints/.env-checkpoint"));
}

/* ---- GET --------------------------------------------------------------------------------- */

static void test_contents_get_root_directory_model(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL, *e;

    put_text(f->root, "b.txt", "bb");
    make_dir(f->root, "A dir");
    put_text(f->root, "n.ipynb", "{}");
    assert_int_equal(contents_get(f->c, "", NULL, NULL, 1, 0, &out), 200);
    check_model(out, "", "directory");
    assert_string_equal(sget(out, "format"), "json");
    assert_true(json_is_null(json_object_get(out, "size")));
    assert_true(json_is_null(json_object_get(out, "mimetype")));
    assert_true(json_is_null(json_object_get(out, "hash")));
    assert_true(json_is_true(json_object_get(out, "writable")));
    assert_int_equal(json_array_size(json_object_get(out, "content")), 3);
    e = json_array_get(json_object_get(out, "content"), 0);
    check_model(e, "A dir", "directory");
    assert_true(json_is_null(json_object_get(e, "content")));
    e = json_array_get(json_object_get(out, "content"), 1);
    check_model(e, "b.txt", "file");
    assert_int_equal(json_integer_value(json_object_get(e, "size")), 2);
    assert_string_equal(sget(e, "mimetype"), "text/plain");
    assert_true(json_is_null(json_object_get(e, "format")));
    e = json_array_get(json_object_get(out, "content"), 2);
    check_model(e, "n.ipynb", "notebook");
    assert_true(json_is_null(json_object_get(e, "mimetype")));
    json_decref(out);

    assert_int_equal(contents_get(f->c, "", NULL, NULL, 0, 0, &out), 200);
    assert_true(json_is_null(json_object_get(out, "content")));
    assert_true(json_is_null(json_object_get(out, "format")));
    json_decref(out);
    /* a trailing slash and doubled slashes name the same thing */
    assert_int_equal(contents_get(f->c, "A dir/", NULL, NULL, 0, 0, &out), 200);
    assert_string_equal(sget(out, "path"), "A dir");
    json_decref(out);
}

static void test_contents_get_directory_listing_sorted_and_filtered(void **state)
{
    static const char *const want[] = {"B", "Z.txt", "a.ipynb", "b.txt", "sub", "\xc3\xa9.md"};
    struct fx *f = *state;
    json_t *out = NULL, *list;
    char p[PATH_MAX];

    put_text(f->root, "b.txt", "");
    put_text(f->root, "Z.txt", "");
    put_text(f->root, "a.ipynb", "");
    put_text(f->root, "\xc3\xa9.md", "");
    make_dir(f->root, "B");
    make_dir(f->root, "sub");
    make_dir(f->root, "__pycache__");
    put_text(f->root, "x.pyc", "");
    put_text(f->root, "y.pyo", "");
    put_text(f->root, "backup~", "");
    put_text(f->root, ".DS_Store", "");
    put_text(f->root, ".hidden", "");
    put_text(f->root, "odd\\name", "");
    put_text(f->root, "bad\xff", "");
    make_dir(f->root, ".ipynb_checkpoints");
    pathf(p, f->root, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(contents_get(f->c, "", NULL, NULL, 1, 0, &out), 200);
    list = json_object_get(out, "content");
    assert_int_equal(json_array_size(list), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(sget(json_array_get(list, i), "name"), want[i]);
    assert_string_equal(sget(json_array_get(list, 5), "mimetype"), "text/markdown");
    json_decref(out);
    /* a FIFO is never opened (it would block) */
    check_error(contents_get(f->c, "fifo", NULL, NULL, 1, 0, &out), &out, 400,
                "Cannot read non-file");
    assert_int_equal(contents_get(f->c, "sub", NULL, NULL, 1, 0, &out), 200);
    assert_true(json_is_array(json_object_get(out, "content")));
    assert_int_equal(json_array_size(json_object_get(out, "content")), 0);
    json_decref(out);
}

static void test_contents_get_file_text(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    put_text(f->root, "hello.txt", "hello\n");
    put_file(f->root, "nul.py", "a\0b", 3);
    assert_int_equal(contents_get(f->c, "hello.txt", NULL, NULL, 1, 0, &out), 200);
    check_model(out, "hello.txt", "file");
    assert_string_equal(sget(out, "content"), "hello\n");
    assert_string_equal(sget(out, "format"), "text");
    assert_string_equal(sget(out, "mimetype"), "text/plain");
    assert_int_equal(json_integer_value(json_object_get(out, "size")), 6);
    assert_true(json_is_null(json_object_get(out, "hash")));
    assert_true(json_is_null(json_object_get(out, "hash_algorithm")));
    json_decref(out);
    assert_int_equal(contents_get(f->c, "nul.py", "file", "text", 1, 0, &out), 200);
    assert_int_equal(json_string_length(json_object_get(out, "content")), 3);
    assert_string_equal(sget(out, "mimetype"), "text/x-python");
    json_decref(out);
}

static const char b64_256[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\n"
    "OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3Bx\n"
    "cnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmq\n"
    "q6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj\n"
    "5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\n";

static void test_contents_get_file_binary_is_base64_with_newlines(void **state)
{
    struct fx *f = *state;
    unsigned char bytes[256];
    json_t *out = NULL;

    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    put_file(f->root, "blob", bytes, sizeof bytes);
    put_file(f->root, "pic.PNG", bytes, sizeof bytes);
    put_file(f->root, "empty.bin", "", 0);
    assert_int_equal(contents_get(f->c, "blob", NULL, NULL, 1, 1, &out), 200);
    assert_string_equal(sget(out, "content"), b64_256);
    assert_string_equal(sget(out, "format"), "base64");
    assert_string_equal(sget(out, "mimetype"), "application/octet-stream");
    assert_string_equal(sget(out, "hash"),
                        "40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880");
    assert_string_equal(sget(out, "hash_algorithm"), "sha256");
    json_decref(out);
    assert_int_equal(contents_get(f->c, "pic.PNG", NULL, NULL, 1, 0, &out), 200);
    assert_string_equal(sget(out, "mimetype"), "image/png");
    json_decref(out);
    assert_int_equal(contents_get(f->c, "empty.bin", NULL, "base64", 1, 0, &out), 200);
    assert_string_equal(sget(out, "content"), "");
    json_decref(out);
    check_error(contents_get(f->c, "blob", NULL, "text", 1, 0, &out), &out, 400,
                "blob is not UTF-8 encoded");
    contents_get(f->c, "blob", NULL, "text", 1, 0, &out);
    assert_string_equal(sget(out, "reason"), "bad format");
    json_decref(out);
}

static void test_contents_get_format_and_type_arguments(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    put_text(f->root, "t.txt", "abc");
    make_dir(f->root, "d");
    assert_int_equal(contents_get(f->c, "t.txt", NULL, "base64", 1, 0, &out), 200);
    assert_string_equal(sget(out, "content"), "YWJj\n");
    assert_string_equal(sget(out, "format"), "base64");
    assert_string_equal(sget(out, "mimetype"), "text/plain");
    json_decref(out);
    check_error(contents_get(f->c, "t.txt", NULL, "json", 1, 0, &out), &out, 400,
                "Format 'json' is invalid");
    check_error(contents_get(f->c, "d", "file", NULL, 1, 0, &out), &out, 400,
                "d is a directory, not a file");
    contents_get(f->c, "d", "notebook", NULL, 1, 0, &out);
    assert_string_equal(sget(out, "reason"), "bad type");
    json_decref(out);
    check_error(contents_get(f->c, "t.txt", "directory", NULL, 1, 0, &out), &out, 400,
                "t.txt is not a directory");
    /* unknown types count as "file" */
    assert_int_equal(contents_get(f->c, "t.txt", "banana", NULL, 1, 0, &out), 200);
    assert_string_equal(sget(out, "type"), "file");
    json_decref(out);
    check_error(contents_get(f->c, "d", "banana", NULL, 1, 0, &out), &out, 400, "not a file");
    /* type=notebook forces the notebook reader */
    check_error(contents_get(f->c, "t.txt", "notebook", NULL, 1, 0, &out), &out, 400,
                "Unreadable Notebook");
    /* format is ignored for directories */
    assert_int_equal(contents_get(f->c, "d", NULL, "base64", 1, 0, &out), 200);
    json_decref(out);
}

static void test_contents_get_without_content_and_hash(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    put_text(f->root, "hello.txt", "hello\n");
    put_text(f->root, "data.unknownext", "x");
    assert_int_equal(contents_get(f->c, "hello.txt", NULL, NULL, 0, 1, &out), 200);
    assert_true(json_is_null(json_object_get(out, "content")));
    assert_true(json_is_null(json_object_get(out, "format")));
    assert_string_equal(sget(out, "mimetype"), "text/plain");
    assert_string_equal(sget(out, "hash"),
                        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    json_decref(out);
    assert_int_equal(contents_get(f->c, "data.unknownext", NULL, NULL, 0, 0, &out), 200);
    assert_true(json_is_null(json_object_get(out, "mimetype")));
    json_decref(out);
    assert_int_equal(contents_get(f->c, "data.unknownext", NULL, NULL, 1, 0, &out), 200);
    assert_string_equal(sget(out, "mimetype"), "text/plain");
    json_decref(out);
    assert_int_equal(contents_get(f->c, "", NULL, NULL, 1, 1, &out), 200);
    assert_true(json_is_null(json_object_get(out, "hash")));
    json_decref(out);
}

static void test_contents_get_missing_is_404(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    check_error(contents_get(f->c, "nope.txt", NULL, NULL, 1, 0, &out), &out, 404,
                "file or directory 'nope.txt' does not exist");
    check_error(contents_get(f->c, "no/such/dir", NULL, NULL, 1, 0, &out), &out, 404, NULL);
    put_text(f->root, "file.txt", "x");
    check_error(contents_get(f->c, "file.txt/child", NULL, NULL, 1, 0, &out), &out, 404, NULL);
}

static void test_contents_get_too_large_is_400(void **state)
{
    struct fx *f = *state;
    char big[200];
    json_t *out = NULL;

    memset(big, 'x', sizeof big);
    put_file(f->root, "big.txt", big, sizeof big);
    check_error(contents_get(f->c, "big.txt", NULL, NULL, 1, 0, &out), &out, 400, "larger than");
    /* without content the model (and even the hash) is still available */
    assert_int_equal(contents_get(f->c, "big.txt", NULL, NULL, 0, 1, &out), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "size")), 200);
    json_decref(out);
}

static void test_contents_get_notebook_model(void **state)
{
    struct fx *f = *state;
    size_t len;
    char *data = slurp_fixture("rich_v45.ipynb", &len);
    json_t *out = NULL, *nb, *cell;

    put_file(f->root, "rich.ipynb", data, len);
    assert_int_equal(contents_get(f->c, "rich.ipynb", NULL, "text", 1, 1, &out), 200);
    check_model(out, "rich.ipynb", "notebook");
    assert_string_equal(sget(out, "format"), "json");
    assert_true(json_is_null(json_object_get(out, "mimetype")));
    assert_null(json_object_get(out, "message"));
    assert_int_equal(strlen(sget(out, "hash")), 64);
    nb = json_object_get(out, "content");
    assert_int_equal(json_integer_value(json_object_get(nb, "nbformat")), 4);
    cell = json_array_get(json_object_get(nb, "cells"), 1);
    assert_string_equal(sget(cell, "source"),
                        "print(\"hello\")\nfor i in range(3):\n    print(i)\n");
    assert_string_equal(sget(cell, "id"), "cell-0002");
    json_decref(out);
    free(data);
}

static void test_contents_get_unreadable_notebook_is_400(void **state)
{
    struct fx *f = *state;
    size_t len;
    char *data = slurp_fixture("bigint.ipynb", &len);
    json_t *out = NULL;

    put_file(f->root, "big.ipynb", data, len);
    put_text(f->root, "bad.ipynb", "{\"cells\": [");
    put_text(f->root, "v3.ipynb",
             "{\"nbformat\": 3, \"nbformat_minor\": 0, \"cells\": [],"
             " \"metadata\": {}, \"worksheets\": []}");
    put_file(f->root, "latin1.ipynb", "{\"cells\": [], \"x\": \"\xe9\"}", 24);
    check_error(contents_get(f->c, "big.ipynb", NULL, NULL, 1, 0, &out), &out, 400,
                "Unreadable Notebook: big.ipynb too big integer");
    check_error(contents_get(f->c, "bad.ipynb", NULL, NULL, 1, 0, &out), &out, 400,
                "Unreadable Notebook");
    check_error(contents_get(f->c, "v3.ipynb", NULL, NULL, 1, 0, &out), &out, 400,
                "Unsupported nbformat version 3");
    check_error(contents_get(f->c, "latin1.ipynb", NULL, NULL, 1, 0, &out), &out, 400,
                "not UTF-8 encoded");
    /* without content nothing is parsed */
    assert_int_equal(contents_get(f->c, "bad.ipynb", NULL, NULL, 0, 0, &out), 200);
    json_decref(out);
    free(data);
}

static void test_contents_get_invalid_notebook_has_message(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    put_text(f->root, "odd.ipynb",
             "{\"nbformat\": 4, \"nbformat_minor\": 4, \"metadata\": {}, \"cells\": "
             "[{\"cell_type\": \"banana\", \"metadata\": {}, \"source\": [\"a\", \"b\"]}]}");
    assert_int_equal(contents_get(f->c, "odd.ipynb", NULL, NULL, 1, 0, &out), 200);
    assert_non_null(strstr(sget(out, "message"), "Notebook validation failed"));
    assert_string_equal(
        sget(json_array_get(json_object_get(json_object_get(out, "content"), "cells"), 0),
             "source"),
        "ab");
    json_decref(out);
}

static void test_contents_get_v45_missing_and_duplicate_ids_are_repaired(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL, *cells;
    const char *a, *b, *c2;

    put_text(f->root, "ids.ipynb",
             "{\"nbformat\": 4, \"nbformat_minor\": 5, \"metadata\": {}, \"cells\": ["
             "{\"cell_type\": \"raw\", \"metadata\": {}, \"source\": \"\"},"
             "{\"cell_type\": \"raw\", \"id\": \"same\", \"metadata\": {}, \"source\": \"\"},"
             "{\"cell_type\": \"raw\", \"id\": \"same\", \"metadata\": {}, \"source\": \"\"}]}");
    put_text(f->root, "old.ipynb",
             "{\"nbformat\": 4, \"nbformat_minor\": 4, \"metadata\": {},"
             " \"cells\": [{\"cell_type\": \"raw\", \"metadata\": {},"
             " \"source\": \"\"}]}");
    assert_int_equal(contents_get(f->c, "ids.ipynb", NULL, NULL, 1, 0, &out), 200);
    cells = json_object_get(json_object_get(out, "content"), "cells");
    a = sget(json_array_get(cells, 0), "id");
    b = sget(json_array_get(cells, 1), "id");
    c2 = sget(json_array_get(cells, 2), "id");
    assert_int_equal(strlen(a), 8);
    assert_string_equal(b, "same");
    assert_string_not_equal(c2, "same");
    assert_string_not_equal(a, c2);
    json_decref(out);
    assert_int_equal(contents_get(f->c, "old.ipynb", NULL, NULL, 1, 0, &out), 200);
    cells = json_object_get(json_object_get(out, "content"), "cells");
    assert_null(json_object_get(json_array_get(cells, 0), "id"));
    json_decref(out);
}

/* ---- PUT --------------------------------------------------------------------------------- */

static void test_contents_save_notebook_roundtrip_is_byte_identical(void **state)
{
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        size_t len, glen;
        char *data = slurp_fixture(fixtures[i], &len), *got, copy_name[64];
        json_t *model = NULL, *out = NULL, *put;

        put_file(f->root, fixtures[i], data, len);
        assert_int_equal(contents_get(f->c, fixtures[i], NULL, NULL, 1, 0, &model), 200);
        /* what JupyterLab sends back: the content, type and format of the model */
        put = json_pack("{s:O, s:s, s:s}", "content", json_object_get(model, "content"), "type",
                        "notebook", "format", "json");
        assert_int_equal(contents_save(f->c, fixtures[i], put, &out), 200);
        check_model(out, fixtures[i], "notebook");
        assert_true(json_is_null(json_object_get(out, "content")));
        json_decref(out);
        got = get_file(f->root, fixtures[i], &glen);
        if (glen != len || memcmp(got, data, len) != 0)
            fail_msg("%s changed on a GET/PUT round trip", fixtures[i]);
        free(got);
        /* and to a new path: 201, same bytes */
        snprintf(copy_name, sizeof copy_name, "new-%s", fixtures[i]);
        assert_int_equal(contents_save(f->c, copy_name, put, &out), 201);
        json_decref(out);
        got = get_file(f->root, copy_name, &glen);
        assert_true(glen == len && memcmp(got, data, len) == 0);
        free(got);
        json_decref(put);
        json_decref(model);
        free(data);
    }
    assert_int_equal(count_temp_files(f->root), 0);
}

static void test_contents_save_notebook_strips_transient_and_creates_checkpoint(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    char *text;

    assert_int_equal(
        save_json(f->c, "t.ipynb",
                  "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
                  " \"metadata\": {\"signature\": \"x\", \"orig_nbformat\": 3}, \"cells\": ["
                  "{\"cell_type\": \"code\", \"id\": \"c1\", \"metadata\": {\"trusted\": true},"
                  " \"source\": \"a\\nb\", \"outputs\": [], \"execution_count\": null}]}}",
                  &out),
        201);
    json_decref(out);
    text = get_file(f->root, "t.ipynb", NULL);
    assert_string_equal(text, "{\n \"cells\": [\n  {\n   \"cell_type\": \"code\",\n"
                              "   \"execution_count\": null,\n   \"id\": \"c1\",\n"
                              "   \"metadata\": {},\n   \"outputs\": [],\n   \"source\": [\n"
                              "    \"a\\n\",\n    \"b\"\n   ]\n  }\n ],\n \"metadata\": {},\n"
                              " \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n");
    assert_file_eq(f->root, ".ipynb_checkpoints/t-checkpoint.ipynb", text);
    free(text);
    /* the next save leaves the first checkpoint alone */
    assert_int_equal(save_json(f->c, "t.ipynb",
                               "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4,"
                               " \"nbformat_minor\": 5, \"metadata\": {}, \"cells\": []}}",
                               &out),
                     200);
    json_decref(out);
    text = get_file(f->root, ".ipynb_checkpoints/t-checkpoint.ipynb", NULL);
    assert_non_null(strstr(text, "\"c1\""));
    free(text);
}

static void test_contents_save_invalid_notebook_is_400_and_file_untouched(void **state)
{
    static const char *const bad[] = {
        "{\"type\": \"notebook\", \"content\": \"not an object\"}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 3, \"nbformat_minor\": 0,"
        " \"metadata\": {}, \"cells\": []}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": \"5\","
        " \"metadata\": {}, \"cells\": []}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": [], \"cells\": []}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": {}}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": [{\"cell_type\": \"banana\", \"metadata\": {},"
        " \"source\": \"\"}]}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": [{\"cell_type\": \"code\", \"metadata\": {},"
        " \"source\": \"\"}]}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": [{\"cell_type\": \"code\", \"metadata\": {},"
        " \"source\": \"\", \"outputs\": [{\"output_type\": \"nope\"}]}]}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": [{\"cell_type\": \"raw\", \"metadata\": {},"
        " \"source\": 5}]}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": [{\"cell_type\": \"raw\", \"source\": \"\"}]}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": [{\"cell_type\": \"raw\", \"id\": \"bad id!\","
        " \"metadata\": {}, \"source\": \"\"}]}}",
        "{\"type\": \"notebook\", \"content\": {\"nbformat\": 4, \"nbformat_minor\": 5,"
        " \"metadata\": {}, \"cells\": [{\"cell_type\": \"code\", \"metadata\": {},"
        " \"source\": \"\", \"outputs\": [], \"execution_count\": -1}]}}",
    };
    struct fx *f = *state;
    json_t *out = NULL;
    char *before;

    put_text(f->root, "keep.ipynb", "original bytes");
    before = snapshot(f->root);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        check_error(save_json(f->c, "keep.ipynb", bad[i], &out), &out, 400, "notebook");
        check_error(save_json(f->c, "new.ipynb", bad[i], &out), &out, 400, "notebook");
    }
    assert_unchanged(f->root, before);
}

static void test_contents_save_text_and_base64_files(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    size_t len;
    char *got;

    assert_int_equal(
        save_json(f->c, "a.txt",
                  "{\"type\":\"file\",\"format\":\"text\",\"content\":\"h\\u00e9\\n\"}", &out),
        201);
    check_model(out, "a.txt", "file");
    assert_true(json_is_null(json_object_get(out, "content")));
    json_decref(out);
    assert_file_eq(f->root, "a.txt", "h\xc3\xa9\n");
    assert_int_equal(save_json(f->c, "a.txt",
                               "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\\u0000y\"}",
                               &out),
                     200);
    json_decref(out);
    got = get_file(f->root, "a.txt", &len);
    assert_int_equal(len, 3);
    assert_memory_equal(got, "x\0y", 3);
    free(got);
    /* base64 with the server's own line breaks, and without */
    assert_int_equal(save_json(f->c, "b.bin",
                               "{\"type\":\"file\",\"format\":\"base64\","
                               "\"content\":\"AAEC\\n/w==\\n\"}",
                               &out),
                     201);
    json_decref(out);
    got = get_file(f->root, "b.bin", &len);
    assert_int_equal(len, 4);
    assert_memory_equal(got, "\x00\x01\x02\xff", 4);
    free(got);
    check_error(save_json(f->c, "b.bin",
                          "{\"type\":\"file\",\"format\":\"base64\",\"content\":\"YQ\"}", &out),
                &out, 400, "Incorrect padding");
    check_error(save_json(f->c, "b.bin",
                          "{\"type\":\"file\",\"format\":\"binary\",\"content\":\"YQ==\"}", &out),
                &out, 400, "Must specify format of file contents as 'text' or 'base64'");
    check_error(save_json(f->c, "b.bin", "{\"type\":\"file\",\"content\":\"YQ==\"}", &out), &out,
                400, "Must specify format");
    check_error(
        save_json(f->c, "b.bin", "{\"type\":\"file\",\"format\":\"text\",\"content\":5}", &out),
        &out, 400, "Encoding error");
    got = get_file(f->root, "b.bin", &len);
    assert_int_equal(len, 4);
    free(got);
    assert_int_equal(count_temp_files(f->root), 0);
}

static void test_contents_save_missing_type_or_content(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    put_text(f->root, "have.txt", "keep");
    check_error(save_json(f->c, "have.txt", "{\"format\":\"text\",\"content\":\"x\"}", &out), &out,
                400, "No file type provided");
    check_error(save_json(f->c, "have.txt", "{\"type\":\"file\",\"format\":\"text\"}", &out), &out,
                400, "No file content provided");
    check_error(save_json(f->c, "have.txt", "{\"type\":\"file\",\"content\":null}", &out), &out,
                400, "No file content provided");
    assert_file_eq(f->root, "have.txt", "keep");
    /* a new path without content is ContentsManager.new: an empty file or notebook */
    assert_int_equal(save_json(f->c, "fresh.txt", "{\"type\":\"file\"}", &out), 201);
    json_decref(out);
    assert_file_eq(f->root, "fresh.txt", "");
    assert_int_equal(save_json(f->c, "fresh.ipynb", "{\"format\":\"json\"}", &out), 201);
    assert_string_equal(sget(out, "type"), "notebook");
    json_decref(out);
    assert_file_eq(f->root, "fresh.ipynb",
                   "{\n \"cells\": [],\n \"metadata\": {},\n"
                   " \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n");
    /* unknown types are files */
    assert_int_equal(save_json(f->c, "w.dat",
                               "{\"type\":\"weird\",\"format\":\"text\",\"content\":\"w\"}", &out),
                     201);
    json_decref(out);
    assert_file_eq(f->root, "w.dat", "w");
}

static void test_contents_save_copy_from_and_empty_model(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL, *arr;

    make_dir(f->root, "d");
    check_error(save_json(f->c, "d/x.txt", "{\"copy_from\": \"a.txt\"}", &out), &out, 400,
                "Cannot copy with PUT");
    /* PUT {} (or no body) is a new untitled file in the path as a directory */
    assert_int_equal(save_json(f->c, "d", "{}", &out), 201);
    assert_string_equal(sget(out, "path"), "d/untitled");
    json_decref(out);
    assert_int_equal(contents_save(f->c, "d", NULL, &out), 201);
    assert_string_equal(sget(out, "path"), "d/untitled1");
    json_decref(out);
    arr = json_array();
    check_error(contents_save(f->c, "d", arr, &out), &out, 400, "JSON object");
    json_decref(arr);
}

static void test_contents_save_directory(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    struct stat st;
    char p[PATH_MAX];

    assert_int_equal(save_json(f->c, "newdir", "{\"type\": \"directory\"}", &out), 201);
    check_model(out, "newdir", "directory");
    json_decref(out);
    pathf(p, f->root, "newdir");
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(save_json(f->c, "newdir", "{\"type\": \"directory\"}", &out), 201);
    json_decref(out);
    put_text(f->root, "file", "f");
    check_error(save_json(f->c, "file", "{\"type\": \"directory\"}", &out), &out, 400,
                "Not a directory: file");
    check_error(save_json(f->c, "newdir",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
                &out, 400, "is a directory");
    check_error(
        save_json(f->c, "", "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
        &out, 400, "root");
}

static void test_contents_save_missing_parent_is_404(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    check_error(save_json(f->c, "no/such/x.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"x\"}", &out),
                &out, 404, "No such directory: no/such");
    assert_false(path_exists(f->root, "no"));
}

static void test_contents_save_atomic_keeps_old_file_when_write_fails(void **state)
{
    struct fx *f = *state;
    char *model = malloc(70000), *before;
    json_t *out = NULL;
    size_t o;

    put_text(f->root, "keep.txt", "the old content\n");
    put_text(f->root, "keep.ipynb", "old notebook bytes\n");
    before = snapshot(f->root);
    o = (size_t)snprintf(model, 70000, "{\"type\":\"file\",\"format\":\"text\",\"content\":\"");
    memset(model + o, 'z', 60000);
    o += 60000;
    memcpy(model + o, "\"}", 3);
    limit_file_size(4096);
    check_error(save_json(f->c, "keep.txt", model, &out), &out, 500,
                "Unexpected error while saving file: keep.txt");
    check_error(save_json(f->c, "new.txt", model, &out), &out, 500, "saving file");
    limit_file_size(0);
    assert_unchanged(f->root, before);
    assert_int_equal(count_temp_files(f->root), 0);
    free(model);
}

static void test_contents_save_too_big_is_413_and_file_untouched(void **state)
{
    struct fx *f = *state;
    char model[512], *before;
    json_t *out = NULL;

    put_text(f->root, "keep.txt", "old");
    before = snapshot(f->root);
    snprintf(model, sizeof model, "{\"type\":\"file\",\"format\":\"text\",\"content\":\"%0150d\"}",
             7);
    check_error(save_json(f->c, "keep.txt", model, &out), &out, 413, "File too large");
    snprintf(model, sizeof model,
             "{\"type\":\"file\",\"format\":\"text\",\"chunk\":2,\"content\":\"%0150d\"}", 7);
    check_error(save_json(f->c, "keep.txt", model, &out), &out, 413, "File too large");
    check_error(save_json(f->c, "keep.ipynb",
                          "{\"type\":\"notebook\",\"content\":{\"nbformat\":4,\"nbformat_minor\":5,"
                          "\"metadata\":{\"pad\":\"0123456789012345678901234567890123456789\"},"
                          "\"cells\":[]}}",
                          &out),
                &out, 413, "File too large");
    assert_unchanged(f->root, before);
    assert_int_equal(count_temp_files(f->root), 0);
}

static void test_contents_save_chunked_upload(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    char *model = malloc(70000);
    size_t o;

    assert_int_equal(
        save_json(f->c, "up.bin",
                  "{\"type\":\"file\",\"format\":\"text\",\"chunk\":1,\"content\":\"abc\"}", &out),
        201);
    json_decref(out);
    assert_int_equal(save_json(f->c, "up.bin",
                               "{\"type\":\"file\",\"format\":\"base64\",\"chunk\":2,"
                               "\"content\":\"ZGVm\"}",
                               &out),
                     200);
    json_decref(out);
    assert_int_equal(
        save_json(f->c, "up.bin",
                  "{\"type\":\"file\",\"format\":\"text\",\"chunk\":-1,\"content\":\"ghi\"}", &out),
        200);
    check_model(out, "up.bin", "file");
    json_decref(out);
    assert_file_eq(f->root, "up.bin", "abcdefghi");
    /* chunk 1 starts over */
    assert_int_equal(
        save_json(f->c, "up.bin",
                  "{\"type\":\"file\",\"format\":\"text\",\"chunk\":1,\"content\":\"Z\"}", &out),
        200);
    json_decref(out);
    assert_file_eq(f->root, "up.bin", "Z");
    check_error(
        save_json(f->c, "up.ipynb", "{\"type\":\"notebook\",\"chunk\":1,\"content\":{}}", &out),
        &out, 400, "File type \"notebook\" is not supported for large file transfer");
    check_error(save_json(f->c, "up.bin",
                          "{\"type\":\"file\",\"format\":\"text\",\"chunk\":\"2\","
                          "\"content\":\"x\"}",
                          &out),
                &out, 400, "chunk must be an integer");
    check_error(
        save_json(f->c, "up.bin", "{\"type\":\"file\",\"format\":\"text\",\"chunk\":2}", &out),
        &out, 400, "No file content provided");
    /* a failed append is undone */
    o = (size_t)snprintf(model, 70000,
                         "{\"type\":\"file\",\"format\":\"text\",\"chunk\":3,"
                         "\"content\":\"");
    memset(model + o, 'q', 60000);
    o += 60000;
    memcpy(model + o, "\"}", 3);
    limit_file_size(4096);
    check_error(save_json(f->c, "up.bin", model, &out), &out, 500, "saving file");
    check_error(save_json(f->c, "fresh.bin", model, &out), &out, 500, "saving file");
    limit_file_size(0);
    assert_file_eq(f->root, "up.bin", "Z");
    assert_false(path_exists(f->root, "fresh.bin"));
    free(model);
}

static void test_contents_save_keeps_file_mode(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    struct stat st;
    char p[PATH_MAX];

    put_text(f->root, "m.txt", "x");
    pathf(p, f->root, "m.txt");
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(
        save_json(f->c, "m.txt", "{\"type\":\"file\",\"format\":\"text\",\"content\":\"y\"}", &out),
        200);
    json_decref(out);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
}

static void test_contents_save_read_only_is_403(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    char p[PATH_MAX], *before;

    int was_root = geteuid() == 0;
    put_text(f->root, "ro.txt", "x");
    make_dir(f->root, "rodir");
    pathf(p, f->root, "ro.txt");
    chmod(p, 0444);
    pathf(p, f->root, "rodir");
    chmod(p, 0555);
    before = snapshot(f->root);
    if (was_root) {
        /* root may write anything: act as "nobody" for the checks (the root directory must
         * be searchable for it) */
        chmod(f->root, 0755);
        assert_int_equal(setegid(65534), 0);
        assert_int_equal(seteuid(65534), 0);
    }
    check_error(save_json(f->c, "ro.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"y\"}", &out),
                &out, 403, "Permission denied: ro.txt");
    check_error(save_json(f->c, "rodir/n.txt",
                          "{\"type\":\"file\",\"format\":\"text\",\"content\":\"y\"}", &out),
                &out, 403, "Permission denied");
    check_error(contents_delete(f->c, "ro.txt", &out), &out, 403, "Permission denied");
    if (was_root) {
        assert_int_equal(seteuid(0), 0);
        assert_int_equal(setegid(0), 0);
    }
    assert_unchanged(f->root, before);
    chmod(p, 0755);
}

/* ---- POST -------------------------------------------------------------------------------- */

static void expect_created(struct contents *c, const char *dir, const char *body,
                           const char *want_path, const char *want_type)
{
    json_t *out = NULL;
    int rc = create_json(c, dir, body, &out);

    if (rc != 201)
        fail_msg("create %s %s: %d %s", dir, body ? body : "", rc,
                 json_string_value(json_object_get(out, "message")));
    check_model(out, want_path, want_type);
    assert_true(json_is_null(json_object_get(out, "content")));
    json_decref(out);
}

static void test_contents_create_untitled_names(void **state)
{
    struct fx *f = *state;

    make_dir(f->root, "d");
    expect_created(f->c, "d", NULL, "d/untitled", "file");
    expect_created(f->c, "d", "{}", "d/untitled1", "file");
    expect_created(f->c, "d", "{\"type\": \"notebook\"}", "d/Untitled.ipynb", "notebook");
    expect_created(f->c, "d", "{\"type\": \"notebook\", \"ext\": \".txt\"}", "d/Untitled1.ipynb",
                   "notebook");
    expect_created(f->c, "d", "{\"ext\": \".ipynb\"}", "d/Untitled2.ipynb", "notebook");
    expect_created(f->c, "d", "{\"type\": \"directory\"}", "d/Untitled Folder", "directory");
    expect_created(f->c, "d", "{\"type\": \"directory\"}", "d/Untitled Folder 1", "directory");
    expect_created(f->c, "d", "{\"ext\": \".txt\"}", "d/untitled.txt", "file");
    expect_created(f->c, "d", "{\"type\": \"file\", \"ext\": \".txt\"}", "d/untitled1.txt", "file");
    expect_created(f->c, "d", "{\"ext\": \".tar.gz\"}", "d/untitled.tar.gz", "file");
    expect_created(f->c, "d", "{\"ext\": \".tar.gz\"}", "d/untitled1.tar.gz", "file");
    expect_created(f->c, "d", "{\"type\": \"banana\"}", "d/untitled2", "file");
    expect_created(f->c, "", "{\"type\": \"notebook\"}", "Untitled.ipynb", "notebook");
    assert_file_eq(f->root, "d/Untitled.ipynb",
                   "{\n \"cells\": [],\n \"metadata\": {},\n"
                   " \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n");
    assert_true(path_exists(f->root, "d/.ipynb_checkpoints/Untitled-checkpoint.ipynb"));
    assert_file_eq(f->root, "d/untitled.txt", "");
}

static void test_contents_create_errors(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    put_text(f->root, "f.txt", "x");
    check_error(create_json(f->c, "f.txt", NULL, &out), &out, 400,
                "Cannot POST to files, use PUT instead.");
    check_error(create_json(f->c, "missing", NULL, &out), &out, 404, "No such directory: missing");
    check_error(create_json(f->c, "", "{\"ext\": \"/../evil\"}", &out), &out, 400,
                "Invalid extension");
    check_error(create_json(f->c, "", "{\"ext\": 5}", &out), &out, 400, "ext must be a string");
    check_error(create_json(f->c, "", "[1]", &out), &out, 400, "JSON object");
    check_error(create_json(f->c, "", "{\"copy_from\": \"nope.txt\"}", &out), &out, 404,
                "does not exist");
    check_error(create_json(f->c, "", "{\"copy_from\": 7}", &out), &out, 400, "string");
}

static void test_contents_create_copy_naming(void **state)
{
    struct fx *f = *state;
    size_t len, glen;
    char *data = slurp_fixture("v40_noids.ipynb", &len), *got;

    make_dir(f->root, "sub");
    put_file(f->root, "a.ipynb", data, len);
    put_text(f->root, "x.tar.gz", "gz");
    put_text(f->root, "nb.v2.ipynb", "{}");
    expect_created(f->c, "", "{\"copy_from\": \"a.ipynb\"}", "a-Copy1.ipynb", "notebook");
    expect_created(f->c, "", "{\"copy_from\": \"a.ipynb\"}", "a-Copy2.ipynb", "notebook");
    expect_created(f->c, "", "{\"copy_from\": \"a-Copy1.ipynb\"}", "a-Copy3.ipynb", "notebook");
    expect_created(f->c, "", "{\"copy_from\": \"/a.ipynb\"}", "a-Copy4.ipynb", "notebook");
    expect_created(f->c, "sub", "{\"copy_from\": \"a.ipynb\"}", "sub/a.ipynb", "notebook");
    expect_created(f->c, "sub", "{\"copy_from\": \"a.ipynb\"}", "sub/a-Copy1.ipynb", "notebook");
    expect_created(f->c, "", "{\"copy_from\": \"x.tar.gz\"}", "x-Copy1.tar.gz", "file");
    expect_created(f->c, "", "{\"copy_from\": \"nb.v2.ipynb\"}", "nb.v2-Copy1.ipynb", "notebook");
    got = get_file(f->root, "sub/a.ipynb", &glen);
    assert_true(glen == len && memcmp(got, data, len) == 0);
    free(got);
    assert_file_eq(f->root, "x-Copy1.tar.gz", "gz");
    assert_true(path_exists(f->root, ".ipynb_checkpoints/a-Copy1-checkpoint.ipynb"));
    assert_true(path_exists(f->root, "sub/.ipynb_checkpoints/a-checkpoint.ipynb"));
    free(data);
}

static void test_contents_create_copy_directory(void **state)
{
    struct fx *f = *state;
    char target[PATH_MAX], *outside = snapshot(f->outside);
    json_t *out = NULL;

    make_dir(f->root, "proj");
    make_dir(f->root, "proj/inner");
    put_text(f->root, "proj/inner/deep.txt", "deep");
    put_text(f->root, "proj/top.txt", "top");
    pathf(target, f->outside, "secret.txt");
    make_link(target, f->root, "proj/leak.txt");
    make_link("top.txt", f->root, "proj/ok-link.txt");
    make_dir(f->root, "dest");
    expect_created(f->c, "", "{\"copy_from\": \"proj\"}", "proj-Copy1", "directory");
    assert_file_eq(f->root, "proj-Copy1/inner/deep.txt", "deep");
    assert_file_eq(f->root, "proj-Copy1/top.txt", "top");
    assert_file_eq(f->root, "proj-Copy1/ok-link.txt", "top");
    assert_false(path_exists(f->root, "proj-Copy1/leak.txt"));
    expect_created(f->c, "dest", "{\"copy_from\": \"proj\"}", "dest/proj", "directory");
    check_error(create_json(f->c, "proj/inner", "{\"copy_from\": \"proj\"}", &out), &out, 400,
                "Can't copy");
    check_error(create_json(f->c, "proj", "{\"copy_from\": \"proj\"}", &out), &out, 400,
                "Can't copy");
    assert_false(path_exists(f->root, "proj/inner/proj"));
    assert_unchanged(f->outside, outside);
}

/* ---- PATCH ------------------------------------------------------------------------------- */

static void test_contents_rename_file_moves_checkpoint(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    make_dir(f->root, "to");
    put_text(f->root, "a.txt", "A");
    assert_int_equal(contents_checkpoint_create(f->c, "a.txt", &out), 201);
    json_decref(out);
    assert_int_equal(contents_rename(f->c, "a.txt", "to/b.txt", &out), 200);
    check_model(out, "to/b.txt", "file");
    json_decref(out);
    assert_false(path_exists(f->root, "a.txt"));
    assert_file_eq(f->root, "to/b.txt", "A");
    assert_false(path_exists(f->root, ".ipynb_checkpoints/a-checkpoint.txt"));
    assert_file_eq(f->root, "to/.ipynb_checkpoints/b-checkpoint.txt", "A");
    /* same path: no-op */
    assert_int_equal(contents_rename(f->c, "to/b.txt", "to/b.txt", &out), 200);
    json_decref(out);
    /* Jupyter strips slashes around the body's path */
    assert_int_equal(contents_rename(f->c, "to/b.txt", "/c.txt", &out), 200);
    assert_string_equal(sget(out, "path"), "c.txt");
    json_decref(out);
}

static void test_contents_rename_errors(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    char *before;

    put_text(f->root, "a.txt", "A");
    put_text(f->root, "b.txt", "B");
    make_dir(f->root, "d");
    make_dir(f->root, "d/e");
    before = snapshot(f->root);
    check_error(contents_rename(f->c, "a.txt", "b.txt", &out), &out, 409,
                "File already exists: b.txt");
    check_error(contents_rename(f->c, "a.txt", "d", &out), &out, 409, "File already exists");
    check_error(contents_rename(f->c, "nope.txt", "z.txt", &out), &out, 404,
                "File or directory does not exist: nope.txt");
    check_error(contents_rename(f->c, "a.txt", "no/dir/a.txt", &out), &out, 404,
                "No such directory: no/dir");
    check_error(contents_rename(f->c, "d", "d/e/d", &out), &out, 400, "into itself");
    check_error(contents_rename(f->c, "", "x", &out), &out, 400, "root");
    check_error(contents_rename(f->c, "a.txt", "", &out), &out, 409, "already exists");
    assert_unchanged(f->root, before);
}

static void test_contents_rename_directory(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;

    make_dir(f->root, "d");
    put_text(f->root, "d/x.txt", "x");
    assert_int_equal(contents_rename(f->c, "d", "renamed", &out), 200);
    check_model(out, "renamed", "directory");
    json_decref(out);
    assert_file_eq(f->root, "renamed/x.txt", "x");
}

/* ---- DELETE ------------------------------------------------------------------------------ */

static void test_contents_delete_file_and_checkpoint(void **state)
{
    struct fx *f = *state;
    json_t *out = (json_t *)NULL;

    put_text(f->root, "a.ipynb", "{}");
    assert_int_equal(contents_checkpoint_create(f->c, "a.ipynb", &out), 201);
    json_decref(out);
    assert_int_equal(contents_delete(f->c, "a.ipynb", &out), 204);
    assert_null(out);
    assert_false(path_exists(f->root, "a.ipynb"));
    assert_false(path_exists(f->root, ".ipynb_checkpoints/a-checkpoint.ipynb"));
    check_error(contents_delete(f->c, "a.ipynb", &out), &out, 404, "does not exist");
    check_error(contents_delete(f->c, "", &out), &out, 400, "Can't delete root");
}

static void test_contents_delete_directory_recursively_without_following_links(void **state)
{
    struct fx *f = *state;
    char *outside = snapshot(f->outside);
    json_t *out = NULL;

    make_dir(f->root, "d");
    make_dir(f->root, "d/e");
    make_dir(f->root, "d/.ipynb_checkpoints");
    put_text(f->root, "d/e/f.txt", "f");
    put_text(f->root, "d/.ipynb_checkpoints/x-checkpoint.txt", "c");
    make_link(f->outside, f->root, "d/e/out");
    assert_int_equal(contents_delete(f->c, "d", &out), 204);
    assert_false(path_exists(f->root, "d"));
    assert_unchanged(f->outside, outside);
}

/* ---- checkpoints ------------------------------------------------------------------------- */

static void test_contents_checkpoints_lifecycle(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    struct stat a, b;
    char p[PATH_MAX], q[PATH_MAX];

    put_text(f->root, "x.tar.gz", "v1");
    assert_int_equal(contents_checkpoints_list(f->c, "x.tar.gz", &out), 200);
    assert_true(json_is_array(out));
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    assert_false(path_exists(f->root, ".ipynb_checkpoints"));

    assert_int_equal(contents_checkpoint_create(f->c, "x.tar.gz", &out), 201);
    assert_string_equal(sget(out, "id"), "checkpoint");
    assert_true(is_iso_time(sget(out, "last_modified")));
    json_decref(out);
    assert_file_eq(f->root, ".ipynb_checkpoints/x.tar-checkpoint.gz", "v1");
    /* copy2 semantics: the checkpoint keeps the file's mtime */
    pathf(p, f->root, "x.tar.gz");
    pathf(q, f->root, ".ipynb_checkpoints/x.tar-checkpoint.gz");
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(stat(q, &b), 0);
    assert_true(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);

    assert_int_equal(contents_checkpoints_list(f->c, "x.tar.gz", &out), 200);
    assert_int_equal(json_array_size(out), 1);
    assert_string_equal(sget(json_array_get(out, 0), "id"), "checkpoint");
    json_decref(out);

    put_text(f->root, "x.tar.gz", "v2 changed");
    assert_int_equal(contents_checkpoint_restore(f->c, "x.tar.gz", "checkpoint", &out), 204);
    assert_null(out);
    assert_file_eq(f->root, "x.tar.gz", "v1");

    check_error(contents_checkpoint_restore(f->c, "x.tar.gz", "other", &out), &out, 404,
                "Checkpoint does not exist: x.tar.gz@other");
    check_error(contents_checkpoint_delete(f->c, "x.tar.gz", "other", &out), &out, 404,
                "Checkpoint does not exist");
    assert_int_equal(contents_checkpoint_delete(f->c, "x.tar.gz", "checkpoint", &out), 204);
    check_error(contents_checkpoint_delete(f->c, "x.tar.gz", "checkpoint", &out), &out, 404,
                "Checkpoint does not exist");
    check_error(contents_checkpoint_restore(f->c, "x.tar.gz", "checkpoint", &out), &out, 404,
                "Checkpoint does not exist");
    assert_int_equal(contents_checkpoints_list(f->c, "x.tar.gz", &out), 200);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);

    make_dir(f->root, "d");
    check_error(contents_checkpoint_create(f->c, "d", &out), &out, 400, "not a file");
    check_error(contents_checkpoint_create(f->c, "missing", &out), &out, 404, "does not exist");
    check_error(contents_checkpoints_list(f->c, "missing", &out), &out, 404, "does not exist");
    assert_int_equal(contents_checkpoints_list(f->c, "d", &out), 200);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
}

static void test_contents_checkpoint_restore_recreates_deleted_file(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    char p[PATH_MAX];

    put_text(f->root, "n.txt", "saved");
    assert_int_equal(contents_checkpoint_create(f->c, "n.txt", &out), 201);
    json_decref(out);
    pathf(p, f->root, "n.txt");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(contents_checkpoint_restore(f->c, "n.txt", "checkpoint", &out), 204);
    assert_file_eq(f->root, "n.txt", "saved");
}

static void test_contents_checkpoint_symlinks_out_are_refused(void **state)
{
    struct fx *f = *state;
    char target[PATH_MAX], *outside = snapshot(f->outside);
    json_t *out = NULL;

    /* a checkpoint file that is a symlink to a secret must not be restored from */
    put_text(f->root, "a.txt", "mine");
    make_dir(f->root, ".ipynb_checkpoints");
    pathf(target, f->outside, "secret.txt");
    make_link(target, f->root, ".ipynb_checkpoints/a-checkpoint.txt");
    check_error(contents_checkpoint_restore(f->c, "a.txt", "checkpoint", &out), &out, 404,
                "Checkpoint does not exist");
    assert_file_eq(f->root, "a.txt", "mine");
    assert_int_equal(contents_checkpoints_list(f->c, "a.txt", &out), 200);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    /* a checkpoint directory that leads out of the root is not written to */
    make_dir(f->root, "s");
    put_text(f->root, "s/b.txt", "b");
    make_link(f->outside, f->root, "s/.ipynb_checkpoints");
    check_error(contents_checkpoint_create(f->c, "s/b.txt", &out), &out, 403, "outside the root");
    assert_unchanged(f->outside, outside);
}

/* ---- the rest ---------------------------------------------------------------------------- */

static void test_contents_fs_path(void **state)
{
    struct fx *f = *state;
    char *p = NULL, want[PATH_MAX];

    make_dir(f->root, "w");
    make_link("w", f->root, "alias");
    assert_int_equal(contents_fs_path(f->c, "w", &p), 0);
    assert_non_null(realpath(f->root, want));
    assert_true(strlen(p) > strlen(want) && strncmp(p, want, strlen(want)) == 0);
    assert_string_equal(p + strlen(want), "/w");
    free(p);
    assert_int_equal(contents_fs_path(f->c, "alias", &p), 0);
    assert_string_equal(p + strlen(want), "/w");
    free(p);
    assert_int_equal(contents_fs_path(f->c, "", &p), 0);
    assert_string_equal(p, want);
    free(p);
    assert_int_equal(contents_fs_path(f->c, "nope", &p), 404);
    assert_null(p);
    assert_int_equal(contents_fs_path(f->c, "..", &p), 400);
    assert_int_equal(contents_fs_path(f->c, ".hidden", &p), 404);
}

static void test_contents_new_refuses_bad_roots(void **state)
{
    struct fx *f = *state;
    char p[PATH_MAX];

    assert_null(contents_new("/nonexistent/cnote/root", NULL));
    assert_null(contents_new(NULL, NULL));
    put_text(f->root, "file", "x");
    pathf(p, f->root, "file");
    assert_null(contents_new(p, NULL));
    contents_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_contents_resolve_dotdot_is_400_and_touches_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_absolute_path_is_400, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_backslash_is_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_symlink_out_of_root_is_404, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_symlink_inside_root_is_followed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_dangling_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_nul_in_body_paths_is_400, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_non_utf8_path_is_400, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_hidden_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_resolve_allow_hidden, setup_hidden, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_root_directory_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_directory_listing_sorted_and_filtered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_file_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_file_binary_is_base64_with_newlines,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_format_and_type_arguments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_without_content_and_hash, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_missing_is_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_too_large_is_400, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_notebook_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_unreadable_notebook_is_400, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_get_invalid_notebook_has_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_contents_get_v45_missing_and_duplicate_ids_are_repaired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_notebook_roundtrip_is_byte_identical,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_contents_save_notebook_strips_transient_and_creates_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_contents_save_invalid_notebook_is_400_and_file_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_text_and_base64_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_missing_type_or_content, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_copy_from_and_empty_model, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_missing_parent_is_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_atomic_keeps_old_file_when_write_fails,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_too_big_is_413_and_file_untouched,
                                        setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_chunked_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_keeps_file_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_save_read_only_is_403, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_create_untitled_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_create_copy_naming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_create_copy_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_rename_file_moves_checkpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_rename_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_rename_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_delete_file_and_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_contents_delete_directory_recursively_without_following_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_checkpoints_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_checkpoint_restore_recreates_deleted_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_checkpoint_symlinks_out_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contents_fs_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents_new_refuses_bad_roots, setup, teardown),
    };

    jp_log_threshold = JP_LOG_WARN; /* deletes and renames log at INFO */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
