/*
 * test_users.c - unit tests for server/users.c: accounts (add, get, list, delete, admin flag,
 * name rules, duplicates), Argon2id password login (right, wrong and unknown give the same
 * answer), login throttling per name and per client address with its exponential delay,
 * API tokens (format, check, list, revoke, expiry, only the hash stored, gone with their
 * user), quotas and their defaults, the audit log, last activity, and the `user` command
 * line. Each test works on a fresh database in its own temporary directory; time is a fake
 * clock set through users_set_clock.
 */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "jp_err.h"
#include "users.h"

/* test hook in users.c */
void users_set_clock(struct users *u, int64_t (*now)(void));

#define S 1000000LL

static char g_dir[256];
static char g_db[300];
static int64_t g_now = 1767225600LL * S; /* 2026-01-01T00:00:00Z */

static int64_t fake_now(void)
{
    return g_now;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    char why[256] = "";
    struct users *u;

    snprintf(g_dir, sizeof g_dir, "/tmp/test_users.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_db, sizeof g_db, "%s/users.db", g_dir);
    u = users_open(g_db, why, sizeof why);
    if (!u) {
        fprintf(stderr, "users_open: %s\n", why);
        return -1;
    }
    g_now = 1767225600LL * S;
    users_set_clock(u, fake_now);
    *state = u;
    return 0;
}

static int teardown(void **state)
{
    users_close(*state);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void add(struct users *u, const char *name, int admin, const char *pw)
{
    char why[256] = "";
    int rc = users_add(u, name, admin, pw, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "users_add %s: %s\n", name, why);
    assert_int_equal(rc, 0);
}

/* The first column of the first row of sql run on the database file, as text ("" if none). */
static void db_text(const char *sql, const char *param, char *out, size_t outlen)
{
    sqlite3 *db;
    sqlite3_stmt *s;

    out[0] = '\0';
    assert_int_equal(sqlite3_open(g_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (param)
        sqlite3_bind_text(s, 1, param, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Whether text occurs anywhere in the database files (main, -wal). */
static int db_files_contain(const char *text)
{
    const char *suffix[] = {"", "-wal"};
    int found = 0;

    for (size_t k = 0; k < 2; k++) {
        char p[320];
        FILE *f;
        char *buf;
        long n;
        snprintf(p, sizeof p, "%s%s", g_db, suffix[k]);
        f = fopen(p, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        for (long i = 0; i + (long)strlen(text) <= n; i++)
            if (memcmp(buf + i, text, strlen(text)) == 0)
                found = 1;
        free(buf);
    }
    return found;
}

/* ---- accounts ---------------------------------------------------------------------------- */

static void test_users_add_get_list_delete(void **state)
{
    struct users *u = *state;
    struct user x, y;
    json_t *l;

    assert_int_equal(users_count(u), 0);
    add(u, "bob", 0, "pw-bob");
    g_now += S;
    add(u, "alice", 1, NULL);
    assert_int_equal(users_count(u), 2);

    assert_int_equal(users_get(u, "alice", &x), 0);
    assert_string_equal(x.name, "alice");
    assert_int_equal(x.admin, 1);
    assert_int_equal(x.created_us, g_now);
    assert_int_equal(x.last_activity_us, 0);
    assert_int_equal(users_get_by_id(u, x.id, &y), 0);
    assert_string_equal(y.name, "alice");
    assert_int_equal(users_get(u, "carol", &x), JP_ENOENT);
    assert_int_equal(users_get_by_id(u, 9999, &x), JP_ENOENT);

    l = users_list(u);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "name")), "alice");
    assert_true(json_is_true(json_object_get(json_array_get(l, 0), "admin")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "created")),
                        "2026-01-01T00:00:01.000000Z");
    assert_true(json_is_null(json_object_get(json_array_get(l, 0), "last_activity")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "name")), "bob");
    assert_true(json_is_false(json_object_get(json_array_get(l, 1), "admin")));
    json_decref(l);

    assert_int_equal(users_delete(u, "bob"), 0);
    assert_int_equal(users_delete(u, "bob"), JP_ENOENT);
    assert_int_equal(users_get(u, "bob", &x), JP_ENOENT);
    assert_int_equal(users_count(u), 1);
}

static void test_users_add_name_validation(void **state)
{
    struct users *u = *state;
    const char *bad[] = {"",     "Bob",       "-bob",  ".bob", "_bob", "bo b", "bob/x",
                         "../x", "b\xc3\xa9", "bob\n", "a:b",  "a@b",  ".",    ".."};
    const char *good[] = {"a", "0", "bob.smith", "b_o-b", "9lives"};
    char longname[USERS_NAME_MAX + 2];
    char why[256];

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        assert_int_equal(users_add(u, bad[i], 0, NULL, why, sizeof why), JP_EINVAL);
        assert_non_null(strstr(why, "invalid user name"));
    }
    assert_int_equal(users_add(u, NULL, 0, NULL, why, sizeof why), JP_EINVAL);
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        add(u, good[i], 0, NULL);
    memset(longname, 'a', sizeof longname);
    longname[USERS_NAME_MAX + 1] = '\0';
    assert_int_equal(users_add(u, longname, 0, NULL, why, sizeof why), JP_EINVAL);
    longname[USERS_NAME_MAX] = '\0';
    add(u, longname, 0, NULL);
    assert_int_equal(users_count(u), (int)(sizeof good / sizeof *good) + 1);
    /* an empty password is refused (NULL means token login only) */
    assert_int_equal(users_add(u, "nopw", 0, "", why, sizeof why), JP_EINVAL);
}

static void test_users_add_duplicate(void **state)
{
    struct users *u = *state;
    char why[256] = "";

    add(u, "bob", 0, NULL);
    assert_int_equal(users_add(u, "bob", 1, "x", why, sizeof why), JP_EIO);
    assert_non_null(strstr(why, "exists"));
    assert_int_equal(users_count(u), 1);
}

static void test_users_set_admin(void **state)
{
    struct users *u = *state;
    struct user x;

    add(u, "bob", 0, NULL);
    assert_int_equal(users_set_admin(u, "bob", 1), 0);
    assert_int_equal(users_get(u, "bob", &x), 0);
    assert_int_equal(x.admin, 1);
    assert_int_equal(users_set_admin(u, "bob", 0), 0);
    assert_int_equal(users_get(u, "bob", &x), 0);
    assert_int_equal(x.admin, 0);
    assert_int_equal(users_set_admin(u, "nobody", 1), JP_ENOENT);
}

/* ---- passwords and login ----------------------------------------------------------------- */

static void test_users_login_right_wrong_unknown(void **state)
{
    struct users *u = *state;
    struct user x;
    int retry = -1;

    add(u, "bob", 0, "correct horse");
    add(u, "tok", 0, NULL);
    memset(&x, 0, sizeof x);
    assert_int_equal(users_login(u, "bob", "correct horse", "10.0.0.1", &x, &retry), 0);
    assert_string_equal(x.name, "bob");
    assert_int_equal(retry, 0);
    assert_int_equal(users_login(u, "bob", "wrong", "10.0.0.1", &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "bob", "correct horse ", "10.0.0.1", &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "nobody", "correct horse", "10.0.0.1", &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "Bad Name", "x", "10.0.0.1", &x, &retry), JP_EINVAL);
    /* a user without a password cannot log in with one, not even the empty one */
    assert_int_equal(users_login(u, "tok", "", "10.0.0.1", &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "tok", NULL, NULL, &x, NULL), JP_EINVAL);
    /* set and clear a password */
    assert_int_equal(users_set_password(u, "tok", "new one"), 0);
    assert_int_equal(users_login(u, "tok", "new one", NULL, &x, NULL), 0);
    assert_int_equal(users_set_password(u, "tok", NULL), 0);
    assert_int_equal(users_login(u, "tok", "new one", NULL, &x, NULL), JP_EINVAL);
    assert_int_equal(users_set_password(u, "nobody", "x"), JP_ENOENT);
}

static void test_users_password_stored_as_argon2id(void **state)
{
    struct users *u = *state;
    char hash[512];

    add(u, "bob", 0, "s3cret-Passw0rd");
    db_text("SELECT pwhash FROM users WHERE name = ?", "bob", hash, sizeof hash);
    assert_true(strncmp(hash, "$argon2id$", 10) == 0);
    assert_null(strstr(hash, "s3cret-Passw0rd"));
    assert_false(db_files_contain("s3cret-Passw0rd"));
}

static void test_users_login_throttled_after_5_failures(void **state)
{
    struct users *u = *state;
    struct user x;
    int retry = 0;

    add(u, "bob", 0, "right");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(users_login(u, "bob", "wrong", "10.0.0.1", &x, &retry), JP_EINVAL);
        assert_int_equal(retry, 0);
    }
    /* the 5th failure blocks for 1 s, even the right password */
    assert_int_equal(users_login(u, "bob", "wrong", "10.0.0.1", &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "bob", "right", "10.0.0.1", &x, &retry), JP_ERANGE);
    assert_int_equal(retry, 1);
    g_now += S;
    /* the 6th blocks for 2 s, the 7th for 4 s */
    assert_int_equal(users_login(u, "bob", "wrong", "10.0.0.1", &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "bob", "wrong", "10.0.0.1", &x, &retry), JP_ERANGE);
    assert_int_equal(retry, 2);
    g_now += 2 * S;
    assert_int_equal(users_login(u, "bob", "wrong", "10.0.0.1", &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "bob", "wrong", "10.0.0.1", &x, &retry), JP_ERANGE);
    assert_int_equal(retry, 4);
    g_now += S / 2;
    assert_int_equal(users_login(u, "bob", "right", "10.0.0.1", &x, &retry), JP_ERANGE);
    assert_int_equal(retry, 4); /* 3.5 s rounded up */
    g_now += 4 * S;
    assert_int_equal(users_login(u, "bob", "right", "10.0.0.1", &x, &retry), 0);
    assert_int_equal(retry, 0);
}

/* One more counted failure for bob, waiting out any block first. */
static void fail_once(struct users *u)
{
    struct user x;
    int retry = 0, rc;

    while ((rc = users_login(u, "bob", "wrong", NULL, &x, &retry)) == JP_ERANGE)
        g_now += (int64_t)retry * S;
    assert_int_equal(rc, JP_EINVAL);
}

static void test_users_login_throttle_delay_capped(void **state)
{
    struct users *u = *state;
    struct user x;
    int retry = 0;
    const int expect[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300};

    add(u, "bob", 0, "right");
    for (int i = 0; i < 4; i++)
        fail_once(u);
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        fail_once(u);
        assert_int_equal(users_login(u, "bob", "right", NULL, &x, &retry), JP_ERANGE);
        assert_int_equal(retry, expect[i]);
    }
    /* a quiet window after the block ends starts the count afresh */
    g_now += 600 * S;
    for (int i = 0; i < 4; i++)
        fail_once(u);
    assert_int_equal(users_login(u, "bob", "right", NULL, &x, &retry), 0);
}

static void test_users_login_throttle_per_name_and_ip(void **state)
{
    struct users *u = *state;
    struct user x;
    int retry = 0;

    add(u, "bob", 0, "right");
    add(u, "carol", 0, "right");
    /* five failures for bob from five addresses: bob is blocked everywhere, carol is not */
    for (int i = 0; i < 5; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.0.1.%d", i);
        assert_int_equal(users_login(u, "bob", "wrong", ip, &x, &retry), JP_EINVAL);
    }
    assert_int_equal(users_login(u, "bob", "right", "10.9.9.9", &x, &retry), JP_ERANGE);
    assert_true(retry >= 1);
    assert_int_equal(users_login(u, "carol", "right", "10.0.1.0", &x, &retry), 0);
    g_now += 600 * S;

    /* five failures from one address against five names: that address is blocked for anyone,
     * another address is not */
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "guess%d", i);
        assert_int_equal(users_login(u, name, "wrong", "192.0.2.7", &x, &retry), JP_EINVAL);
    }
    assert_int_equal(users_login(u, "carol", "right", "192.0.2.7", &x, &retry), JP_ERANGE);
    assert_int_equal(retry, 1);
    assert_int_equal(users_login(u, "carol", "right", "192.0.2.8", &x, &retry), 0);
}

static void test_users_login_success_resets_name(void **state)
{
    struct users *u = *state;
    struct user x;
    int retry = 0;

    add(u, "bob", 0, "right");
    for (int i = 0; i < 4; i++)
        assert_int_equal(users_login(u, "bob", "wrong", NULL, &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "bob", "right", NULL, &x, &retry), 0);
    /* four more failures are free again */
    for (int i = 0; i < 4; i++)
        assert_int_equal(users_login(u, "bob", "wrong", NULL, &x, &retry), JP_EINVAL);
    assert_int_equal(users_login(u, "bob", "right", NULL, &x, &retry), 0);
}

/* ---- tokens ------------------------------------------------------------------------------ */

static void test_users_token_new_check(void **state)
{
    struct users *u = *state;
    struct user x;
    int64_t id = 0;
    char *t, *t2;

    add(u, "bob", 1, NULL);
    t = users_token_new(u, "bob", "laptop", 0, &id);
    assert_non_null(t);
    assert_true(id > 0);
    assert_int_equal(strlen(t), strlen(USERS_TOKEN_PREFIX) + 43);
    assert_true(strncmp(t, USERS_TOKEN_PREFIX, strlen(USERS_TOKEN_PREFIX)) == 0);
    assert_int_equal(
        strspn(t + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    memset(&x, 0, sizeof x);
    assert_int_equal(users_token_check(u, t, &x), 0);
    assert_string_equal(x.name, "bob");
    assert_int_equal(x.admin, 1);

    t2 = users_token_new(u, "bob", NULL, 0, NULL);
    assert_non_null(t2);
    assert_string_not_equal(t, t2);
    assert_int_equal(users_token_check(u, t2, &x), 0);

    /* near misses */
    t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(users_token_check(u, t, &x), JP_ENOENT);
    assert_int_equal(users_token_check(u, "", &x), JP_ENOENT);
    assert_int_equal(users_token_check(u, NULL, &x), JP_ENOENT);
    assert_int_equal(users_token_check(u, "cnote_", &x), JP_ENOENT);
    assert_null(users_token_new(u, "nobody", NULL, 0, NULL));
    assert_null(users_token_new(u, "bob", NULL, -1, NULL));
    free(t);
    free(t2);
}

static void test_users_token_list_revoke(void **state)
{
    struct users *u = *state;
    struct user x;
    int64_t id1, id2, id3;
    char *t1, *t2, *t3;
    json_t *l, *e;

    add(u, "bob", 0, NULL);
    add(u, "carol", 0, NULL);
    t1 = users_token_new(u, "bob", "one", 0, &id1);
    t2 = users_token_new(u, "bob", "two", 3600, &id2);
    t3 = users_token_new(u, "carol", "c", 0, &id3);
    assert_non_null(t1);
    assert_non_null(t2);
    assert_non_null(t3);

    l = users_token_list(u, "bob");
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 2);
    e = json_array_get(l, 0);
    assert_int_equal(json_integer_value(json_object_get(e, "id")), id1);
    assert_string_equal(json_string_value(json_object_get(e, "note")), "one");
    assert_string_equal(json_string_value(json_object_get(e, "created")),
                        "2026-01-01T00:00:00.000000Z");
    assert_true(json_is_null(json_object_get(e, "expires")));
    assert_true(json_is_null(json_object_get(e, "last_used")));
    e = json_array_get(l, 1);
    assert_string_equal(json_string_value(json_object_get(e, "expires")),
                        "2026-01-01T01:00:00.000000Z");
    /* the list never holds the token */
    {
        char *dump = json_dumps(l, 0);
        assert_null(strstr(dump, t1 + 6));
        assert_null(strstr(dump, t2 + 6));
        free(dump);
    }
    json_decref(l);
    assert_null(users_token_list(u, "nobody"));

    /* last_used is set by a check */
    g_now += 5 * S;
    assert_int_equal(users_token_check(u, t1, &x), 0);
    l = users_token_list(u, "bob");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "last_used")),
                        "2026-01-01T00:00:05.000000Z");
    json_decref(l);
    /* ... at most once a minute */
    g_now += 10 * S;
    assert_int_equal(users_token_check(u, t1, &x), 0);
    l = users_token_list(u, "bob");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "last_used")),
                        "2026-01-01T00:00:05.000000Z");
    json_decref(l);
    g_now += 60 * S;
    assert_int_equal(users_token_check(u, t1, &x), 0);
    l = users_token_list(u, "bob");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "last_used")),
                        "2026-01-01T00:01:15.000000Z");
    json_decref(l);

    /* a user cannot revoke another's token by id */
    assert_int_equal(users_token_revoke(u, "bob", id3), JP_ENOENT);
    assert_int_equal(users_token_check(u, t3, &x), 0);
    assert_int_equal(users_token_revoke(u, "bob", id1), 0);
    assert_int_equal(users_token_revoke(u, "bob", id1), JP_ENOENT);
    assert_int_equal(users_token_check(u, t1, &x), JP_ENOENT);
    assert_int_equal(users_token_check(u, t2, &x), 0);
    l = users_token_list(u, "bob");
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    free(t1);
    free(t2);
    free(t3);
}

static void test_users_token_expired(void **state)
{
    struct users *u = *state;
    struct user x;
    char *t;

    add(u, "bob", 0, NULL);
    t = users_token_new(u, "bob", NULL, 1, NULL);
    assert_non_null(t);
    assert_int_equal(users_token_check(u, t, &x), 0);
    g_now += S - 1;
    assert_int_equal(users_token_check(u, t, &x), 0);
    g_now += 1;
    assert_int_equal(users_token_check(u, t, &x), JP_ENOENT);
    free(t);
}

static void test_users_token_not_stored_in_clear(void **state)
{
    struct users *u = *state;
    char *t;
    char stored[256];

    add(u, "bob", 0, NULL);
    t = users_token_new(u, "bob", NULL, 0, NULL);
    assert_non_null(t);
    db_text("SELECT hash FROM tokens", NULL, stored, sizeof stored);
    assert_int_equal(strlen(stored), 64);
    assert_null(strstr(stored, t + 6));
    assert_false(db_files_contain(t + 6));
    assert_false(db_files_contain(t));
    /* the database and its WAL are the owner's alone */
    for (int k = 0; k < 2; k++) {
        char p[320];
        struct stat st;
        snprintf(p, sizeof p, "%s%s", g_db, k ? "-wal" : "");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 077, 0);
    }
    free(t);
}

static void test_users_token_of_deleted_user(void **state)
{
    struct users *u = *state;
    struct user x;
    char *t;
    char n[32];

    add(u, "bob", 0, NULL);
    t = users_token_new(u, "bob", NULL, 0, NULL);
    assert_non_null(t);
    assert_int_equal(users_delete(u, "bob"), 0);
    assert_int_equal(users_token_check(u, t, &x), JP_ENOENT);
    db_text("SELECT count(*) FROM tokens", NULL, n, sizeof n);
    assert_string_equal(n, "0");
    /* a new user of the same name does not inherit it */
    add(u, "bob", 0, NULL);
    assert_int_equal(users_token_check(u, t, &x), JP_ENOENT);
    free(t);
}

/* ---- quotas ------------------------------------------------------------------------------ */

static void test_users_quota_defaults_and_effective(void **state)
{
    struct users *u = *state;
    struct users_quota q, d;

    users_quota_defaults(u, &d);
    assert_int_equal(d.max_kernels, 10);
    assert_int_equal(d.max_gpus, 1);
    assert_int_equal(d.max_idle_s, 0);

    add(u, "bob", 0, NULL);
    assert_int_equal(users_quota_get(u, "bob", &q), 0);
    assert_int_equal(q.max_kernels, -1);
    assert_int_equal(q.max_gpus, -1);
    assert_int_equal(q.max_idle_s, -1);
    assert_int_equal(users_quota_effective(u, "bob", &q), 0);
    assert_int_equal(q.max_kernels, 10);
    assert_int_equal(q.max_gpus, 1);
    assert_int_equal(q.max_idle_s, 0);

    q = (struct users_quota){3, -1, 0};
    assert_int_equal(users_quota_set(u, "bob", &q), 0);
    assert_int_equal(users_quota_get(u, "bob", &q), 0);
    assert_int_equal(q.max_kernels, 3);
    assert_int_equal(q.max_gpus, -1);
    assert_int_equal(q.max_idle_s, 0);

    d = (struct users_quota){20, 4, 3600};
    assert_int_equal(users_quota_set_defaults(u, &d), 0);
    users_quota_defaults(u, &d);
    assert_int_equal(d.max_kernels, 20);
    assert_int_equal(d.max_gpus, 4);
    assert_int_equal(d.max_idle_s, 3600);
    assert_int_equal(users_quota_effective(u, "bob", &q), 0);
    assert_int_equal(q.max_kernels, 3); /* own */
    assert_int_equal(q.max_gpus, 4);    /* default */
    assert_int_equal(q.max_idle_s, 0);  /* own: 0 */

    q = (struct users_quota){-2, 0, 0};
    assert_int_equal(users_quota_set(u, "bob", &q), JP_EINVAL);
    d = (struct users_quota){-1, 0, 0};
    assert_int_equal(users_quota_set_defaults(u, &d), JP_EINVAL);
    assert_int_equal(users_quota_get(u, "nobody", &q), JP_ENOENT);
    q = (struct users_quota){1, 1, 1};
    assert_int_equal(users_quota_set(u, "nobody", &q), JP_ENOENT);
    assert_int_equal(users_quota_effective(u, "nobody", &q), JP_ENOENT);
}

static void test_users_quota_persists(void **state)
{
    struct users *u = *state;
    struct users_quota q = {5, 2, 60}, d = {7, 0, 120};
    char why[256];

    add(u, "bob", 0, NULL);
    assert_int_equal(users_quota_set(u, "bob", &q), 0);
    assert_int_equal(users_quota_set_defaults(u, &d), 0);
    users_close(u);
    u = users_open(g_db, why, sizeof why);
    assert_non_null(u);
    *state = u;
    memset(&q, 0, sizeof q);
    assert_int_equal(users_quota_get(u, "bob", &q), 0);
    assert_int_equal(q.max_kernels, 5);
    assert_int_equal(q.max_gpus, 2);
    assert_int_equal(q.max_idle_s, 60);
    users_quota_defaults(u, &d);
    assert_int_equal(d.max_kernels, 7);
    assert_int_equal(d.max_gpus, 0);
    assert_int_equal(d.max_idle_s, 120);
}

/* ---- audit and activity ------------------------------------------------------------------ */

static void test_users_audit_list_order(void **state)
{
    struct users *u = *state;
    json_t *d = json_pack("{s:s, s:i}", "kernel_id", "k1", "n", 2);
    json_t *l, *e;

    users_audit(u, "admin", "user_add", "bob", NULL);
    g_now += S;
    users_audit(u, "", "kernel_stop", "bob", d);
    json_decref(d);
    g_now += S;
    users_audit(u, "alice", "token_new", "alice", NULL);

    l = users_audit_list(u, 0);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 3);
    e = json_array_get(l, 0);
    assert_string_equal(json_string_value(json_object_get(e, "action")), "token_new");
    assert_string_equal(json_string_value(json_object_get(e, "time")),
                        "2026-01-01T00:00:02.000000Z");
    e = json_array_get(l, 1);
    assert_string_equal(json_string_value(json_object_get(e, "actor")), "");
    assert_string_equal(json_string_value(json_object_get(e, "action")), "kernel_stop");
    assert_string_equal(json_string_value(json_object_get(e, "target")), "bob");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "detail"), "kernel_id")), "k1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "detail"), "n")), 2);
    e = json_array_get(l, 2);
    assert_string_equal(json_string_value(json_object_get(e, "actor")), "admin");
    assert_true(json_is_null(json_object_get(e, "detail")));
    json_decref(l);

    l = users_audit_list(u, 2);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "action")),
                        "kernel_stop");
    json_decref(l);
}

static void test_users_login_audited_without_password(void **state)
{
    struct users *u = *state;
    struct user x;
    json_t *l;
    char *dump;

    add(u, "bob", 0, "hunter2-pw");
    assert_int_equal(users_login(u, "bob", "guess-pw", "10.1.1.1", &x, NULL), JP_EINVAL);
    assert_int_equal(users_login(u, "bob", "hunter2-pw", "10.1.1.1", &x, NULL), 0);
    l = users_audit_list(u, 10);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "action")),
                        "login");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "action")),
                        "login_failed");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(l, 1), "detail"), "ip")),
        "10.1.1.1");
    dump = json_dumps(l, 0);
    assert_null(strstr(dump, "hunter2"));
    assert_null(strstr(dump, "guess-pw"));
    free(dump);
    json_decref(l);
}

static void test_users_touch_rate_limited(void **state)
{
    struct users *u = *state;
    struct user x;
    int64_t t0;

    add(u, "bob", 0, NULL);
    assert_int_equal(users_get(u, "bob", &x), 0);
    g_now += 10 * S;
    t0 = g_now;
    users_touch(u, x.id);
    assert_int_equal(users_get(u, "bob", &x), 0);
    assert_int_equal(x.last_activity_us, t0);
    g_now += 30 * S;
    users_touch(u, x.id);
    assert_int_equal(users_get(u, "bob", &x), 0);
    assert_int_equal(x.last_activity_us, t0);
    g_now += 31 * S;
    users_touch(u, x.id);
    assert_int_equal(users_get(u, "bob", &x), 0);
    assert_int_equal(x.last_activity_us, g_now);
}

/* ---- command line ------------------------------------------------------------------------ */

/* Run users_cli with argv (NULL-terminated) and stdin_text (NULL: empty) on <dir>/data;
 * stdout captured into out. The exit status. */
static int cli(char *out, size_t outlen, const char *stdin_text, ...)
{
    char *argv[16];
    char data[300], in_path[300], out_path[300];
    int argc = 0, saved, fd, rc;
    va_list ap;
    FILE *f;
    size_t n;

    va_start(ap, stdin_text);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    snprintf(data, sizeof data, "%s/data", g_dir);
    snprintf(in_path, sizeof in_path, "%s/stdin", g_dir);
    snprintf(out_path, sizeof out_path, "%s/stdout", g_dir);

    f = fopen(in_path, "w");
    assert_non_null(f);
    if (stdin_text)
        fputs(stdin_text, f);
    fclose(f);
    assert_non_null(freopen(in_path, "r", stdin));

    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    rc = users_cli(argc, argv, data);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);

    f = fopen(out_path, "r");
    assert_non_null(f);
    n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

static void test_users_cli_add_token_list_delete(void **state)
{
    struct users *u;
    char out[4096], why[256], db[320];
    struct user x;
    char *nl;
    json_t *l;
    (void)state;

    assert_int_equal(cli(out, sizeof out, "pa55word\n", "user", "add", "root", "--admin",
                         "--password-stdin", NULL),
                     0);
    assert_int_equal(cli(out, sizeof out, NULL, "add", "bob", NULL), 0);
    assert_int_equal(cli(out, sizeof out, NULL, "add", "bob", NULL), 1);
    assert_int_equal(cli(out, sizeof out, NULL, "add", "Bad", NULL), 1);
    assert_int_equal(cli(out, sizeof out, "", "add", "eve", "--password-stdin", NULL), 1);

    /* token: the token alone on stdout */
    assert_int_equal(
        cli(out, sizeof out, NULL, "token", "bob", "--note", "ci", "--expires-in", "3600", NULL),
        0);
    nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, "");
    *nl = '\0';
    assert_int_equal(strlen(out), strlen(USERS_TOKEN_PREFIX) + 43);
    assert_int_equal(cli(why, sizeof why, NULL, "token", "nobody", NULL), 1);
    assert_int_equal(cli(why, sizeof why, NULL, "token", "bob", "--expires-in", "x", NULL), 2);

    snprintf(db, sizeof db, "%s/data/users.db", g_dir);
    u = users_open(db, why, sizeof why);
    assert_non_null(u);
    assert_int_equal(users_token_check(u, out, &x), 0);
    assert_string_equal(x.name, "bob");
    assert_int_equal(users_login(u, "root", "pa55word", NULL, &x, NULL), 0);
    assert_int_equal(x.admin, 1);
    assert_int_equal(users_get(u, "bob", &x), 0);
    assert_int_equal(x.admin, 0);
    users_close(u);

    /* list */
    assert_int_equal(cli(out, sizeof out, NULL, "list", NULL), 0);
    assert_non_null(strstr(out, "NAME"));
    assert_non_null(strstr(out, "root"));
    assert_non_null(strstr(out, "bob"));
    assert_true(strstr(out, "bob") < strstr(out, "root"));
    assert_non_null(strstr(out, "yes"));

    /* admin, passwd, delete */
    assert_int_equal(cli(out, sizeof out, NULL, "admin", "bob", "on", NULL), 0);
    assert_int_equal(cli(out, sizeof out, NULL, "admin", "bob", "maybe", NULL), 2);
    assert_int_equal(cli(out, sizeof out, "b0b-pw\r\n", "passwd", "bob", NULL), 0);
    assert_int_equal(cli(out, sizeof out, "x\n", "passwd", "nobody", NULL), 1);
    assert_int_equal(cli(out, sizeof out, NULL, "delete", "root", NULL), 0);
    assert_int_equal(cli(out, sizeof out, NULL, "delete", "root", NULL), 1);

    u = users_open(db, why, sizeof why);
    assert_non_null(u);
    assert_int_equal(users_get(u, "root", &x), JP_ENOENT);
    assert_int_equal(users_login(u, "bob", "b0b-pw", NULL, &x, NULL), 0);
    assert_int_equal(x.admin, 1);
    /* audited as "cli", newest first; the token itself is nowhere */
    l = users_audit_list(u, 0);
    {
        const char *expect[] = {"login", "user_delete", "user_passwd", "user_admin",
                                "login", "token_new",   "user_add",    "user_add"};
        char *dump = json_dumps(l, 0);
        assert_int_equal(json_array_size(l), 8);
        for (size_t i = 0; i < 8; i++) {
            json_t *e = json_array_get(l, i);
            assert_string_equal(json_string_value(json_object_get(e, "action")), expect[i]);
        }
        assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "actor")),
                            "cli");
        assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "target")),
                            "root");
        assert_null(strstr(dump, "pa55word"));
        free(dump);
    }
    json_decref(l);
    users_close(u);
}

static void test_users_cli_usage(void **state)
{
    char out[1024];
    (void)state;

    assert_int_equal(cli(out, sizeof out, NULL, "user", NULL), 2);
    assert_int_equal(cli(out, sizeof out, NULL, "frobnicate", "x", NULL), 2);
    assert_int_equal(cli(out, sizeof out, NULL, "add", NULL), 2);
    assert_int_equal(cli(out, sizeof out, NULL, "add", "bob", "--root", NULL), 2);
    assert_int_equal(cli(out, sizeof out, NULL, "list", "extra", NULL), 2);
    assert_int_equal(cli(out, sizeof out, NULL, "delete", "a", "b", NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_users_add_get_list_delete),
        T(test_users_add_name_validation),
        T(test_users_add_duplicate),
        T(test_users_set_admin),
        T(test_users_login_right_wrong_unknown),
        T(test_users_password_stored_as_argon2id),
        T(test_users_login_throttled_after_5_failures),
        T(test_users_login_throttle_delay_capped),
        T(test_users_login_throttle_per_name_and_ip),
        T(test_users_login_success_resets_name),
        T(test_users_token_new_check),
        T(test_users_token_list_revoke),
        T(test_users_token_expired),
        T(test_users_token_not_stored_in_clear),
        T(test_users_token_of_deleted_user),
        T(test_users_quota_defaults_and_effective),
        T(test_users_quota_persists),
        T(test_users_audit_list_order),
        T(test_users_login_audited_without_password),
        T(test_users_touch_rate_limited),
        T(test_users_cli_add_token_list_delete),
        T(test_users_cli_usage),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
