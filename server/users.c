/*
 * users.c - the users of a multi-user cnote (see users.h): one SQLite file with the tables
 * users, tokens, quotas, quota_defaults and audit. Passwords are kept as libsodium Argon2id
 * strings (crypto_pwhash_str, interactive limits); API tokens as the hex SHA-256 of the token,
 * so a stolen database yields no usable token. Login throttling and the last-activity cache
 * live in memory only (a restart forgets them, which is acceptable: the delays are short).
 * It does not know about HTTP, cookies or kernels: the server's auth layer calls it, and
 * `cnote-server user ...` reaches it through users_cli. Tokens and passwords never reach a
 * log line or the audit log; only user names, token ids and client addresses do.
 */
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sqlite3.h>

#include "jp_err.h"
#include "jp_log.h"
#include "jp_time.h"

#define US_PER_S 1000000LL

/* Throttling: THROTTLE_FREE failures in a row (each within THROTTLE_WINDOW_S of the last)
 * are free; from then on each failure blocks the key for 1, 2, 4 ... THROTTLE_MAX_S seconds. */
#define THROTTLE_FREE 5
#define THROTTLE_WINDOW_S 300
#define THROTTLE_MAX_S 300
#define THROTTLE_KEYS 4096 /* memory bound: names and addresses remembered at once */

#define TOUCH_SLOTS 256 /* last-activity write cache, direct-mapped by user id */
#define TOUCH_EVERY_S 60
#define LAST_USED_EVERY_S 60

#define TOKEN_BYTES 32
#define TOKEN_B64_LEN 43 /* base64url of 32 bytes, no padding */
#define TOKEN_LEN (sizeof USERS_TOKEN_PREFIX - 1 + TOKEN_B64_LEN)
#define PASSWORD_MAX 4096

struct throttle {
    char key[USERS_NAME_MAX + 48]; /* "n:<name>" or "i:<address>" */
    int failures;
    int64_t last_fail_us, blocked_until_us;
};

struct touch_slot {
    int64_t user_id, at_us;
};

struct users {
    sqlite3 *db;
    int64_t (*now_us)(void);
    struct throttle *thr;
    size_t nthr;
    struct touch_slot touch[TOUCH_SLOTS];
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
    "UNIQUE, "
    "admin INTEGER NOT NULL DEFAULT 0, pwhash TEXT, created INTEGER NOT NULL, "
    "last_activity INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS tokens (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
    "REFERENCES users(id) ON DELETE CASCADE, hash TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', "
    "created INTEGER NOT NULL, expires INTEGER NOT NULL DEFAULT 0, "
    "last_used INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS tokens_hash ON tokens(hash);"
    "CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);"
    "CREATE TABLE IF NOT EXISTS quotas (user_id INTEGER PRIMARY KEY REFERENCES users(id) ON "
    "DELETE CASCADE, max_kernels INTEGER NOT NULL DEFAULT -1, max_gpus INTEGER NOT NULL "
    "DEFAULT -1, max_idle_s INTEGER NOT NULL DEFAULT -1);"
    "CREATE TABLE IF NOT EXISTS quota_defaults (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "max_kernels INTEGER NOT NULL, max_gpus INTEGER NOT NULL, max_idle_s INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO quota_defaults VALUES (1, 10, 1, 0);"
    "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, "
    "actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX IF NOT EXISTS audit_time ON audit(time);";

static const struct users_quota initial_defaults = {10, 1, 0};

/* A hash that no password matches, verified against when the user is unknown or has no
 * password, so that the answer takes the same time either way. Made once per process. */
static char dummy_hash[crypto_pwhash_STRBYTES];

static void audit_steal(struct users *u, const char *actor, const char *action, const char *target,
                        json_t *detail);

/* Test hook (not in users.h): the clock for expiry, throttling, activity and audit times. */
void users_set_clock(struct users *u, int64_t (*now)(void));

static int64_t now_us(struct users *u)
{
    return u->now_us();
}

/* ---- SQL helpers ------------------------------------------------------------------------- */

/* Prepare sql and bind parameters: per character of types, 't' text, 'n' text or NULL,
 * 'i' int64. NULL on failure (logged). */
static sqlite3_stmt *prep(struct users *u, const char *sql, const char *types, ...)
{
    sqlite3_stmt *s;
    va_list ap;

    if (sqlite3_prepare_v2(u->db, sql, -1, &s, NULL) != SQLITE_OK) {
        jp_log(JP_LOG_ERROR, "users", "prepare failed err=%s", sqlite3_errmsg(u->db));
        return NULL;
    }
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 'i') {
            sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
        } else {
            const char *t = va_arg(ap, const char *);
            if (t)
                sqlite3_bind_text(s, i + 1, t, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(s, i + 1);
        }
    }
    va_end(ap);
    return s;
}

/* Step a prepared write to completion: the number of rows changed, or a JP_E* code
 * (JP_EIO; *constraint set when a uniqueness or other constraint refused it). */
static int finish(struct users *u, sqlite3_stmt *s, int *constraint)
{
    int rc;

    if (!s)
        return JP_EIO;
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return sqlite3_changes(u->db);
    if (constraint)
        *constraint = (rc & 0xff) == SQLITE_CONSTRAINT;
    if ((rc & 0xff) != SQLITE_CONSTRAINT || !constraint)
        jp_log(JP_LOG_WARN, "users", "write failed err=%s", sqlite3_errmsg(u->db));
    return JP_EIO;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* ISO 8601 text for us, or JSON null for 0 (never). */
static json_t *time_json(int64_t us)
{
    char buf[JP_TIME_LEN];

    if (us <= 0 || jp_time_format(us, buf, sizeof buf) != 0)
        return json_null();
    return json_string(buf);
}

#define USER_COLS "id, name, admin, created, last_activity"

static void read_user(sqlite3_stmt *s, int first, struct user *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(s, first);
    snprintf(out->name, sizeof out->name, "%s", col_text(s, first + 1));
    out->admin = sqlite3_column_int(s, first + 2) != 0;
    out->created_us = sqlite3_column_int64(s, first + 3);
    out->last_activity_us = sqlite3_column_int64(s, first + 4);
}

/* ---- names and passwords ----------------------------------------------------------------- */

static int name_valid(const char *name)
{
    size_t n;

    if (!name)
        return 0;
    n = strlen(name);
    if (n < 1 || n > USERS_NAME_MAX)
        return 0;
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int password_valid(const char *pw)
{
    return pw && pw[0] && strlen(pw) <= PASSWORD_MAX;
}

static int hash_password(const char *pw, char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return JP_ENOMEM; /* the only way it fails: the memory limit could not be allocated */
    return 0;
}

static int dummy_ready(void)
{
    unsigned char rnd[32];
    char pw[2 * sizeof rnd + 1];

    if (dummy_hash[0])
        return 0;
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
    sodium_memzero(rnd, sizeof rnd);
    if (hash_password(pw, dummy_hash) != 0) {
        dummy_hash[0] = '\0';
        return JP_ENOMEM;
    }
    sodium_memzero(pw, sizeof pw);
    return 0;
}

/* ---- open and close ---------------------------------------------------------------------- */

struct users *users_open(const char *path, char *why, size_t whylen)
{
    struct users *u;
    int fd;

    if (sodium_init() < 0) {
        snprintf(why, whylen, "libsodium failed to initialise");
        return NULL;
    }
    /* create the file owner-only before SQLite does (its -wal and -shm files copy the mode) */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    close(fd);
    u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    u->now_us = jp_time_now_us;
    if (sqlite3_open(path, &u->db) != SQLITE_OK) {
        snprintf(why, whylen, "cannot open %s: %s", path,
                 u->db ? sqlite3_errmsg(u->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(u->db, 5000);
    if (sqlite3_exec(u->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "cannot create the users schema in %s: %s", path,
                 sqlite3_errmsg(u->db));
        goto fail;
    }
    return u;
fail:
    sqlite3_close(u->db);
    free(u);
    return NULL;
}

void users_close(struct users *u)
{
    if (!u)
        return;
    sqlite3_close(u->db);
    free(u->thr);
    free(u);
}

void users_set_clock(struct users *u, int64_t (*now)(void))
{
    u->now_us = now ? now : jp_time_now_us;
}

int users_count(struct users *u)
{
    sqlite3_stmt *s = prep(u, "SELECT count(*) FROM users", "");
    int n = JP_EIO;

    if (s && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* ---- users ------------------------------------------------------------------------------- */

int users_add(struct users *u, const char *name, int admin, const char *password, char *why,
              size_t whylen)
{
    char hash[crypto_pwhash_STRBYTES];
    int constraint = 0, rc;

    if (!name_valid(name)) {
        snprintf(why, whylen,
                 "invalid user name: 1-%d characters of a-z, 0-9, '.', '_', '-', starting with a "
                 "letter or digit",
                 USERS_NAME_MAX);
        return JP_EINVAL;
    }
    if (password && !password_valid(password)) {
        snprintf(why, whylen, "invalid password: 1-%d bytes", PASSWORD_MAX);
        return JP_EINVAL;
    }
    if (password && hash_password(password, hash) != 0) {
        snprintf(why, whylen, "out of memory hashing the password");
        return JP_ENOMEM;
    }
    rc = finish(u,
                prep(u, "INSERT INTO users (name, admin, pwhash, created) VALUES (?,?,?,?)", "tini",
                     name, (int64_t)(admin != 0), password ? hash : NULL, now_us(u)),
                &constraint);
    sodium_memzero(hash, sizeof hash);
    if (rc < 0) {
        snprintf(why, whylen, constraint ? "user %s exists" : "cannot store user %s", name);
        return JP_EIO;
    }
    jp_log(JP_LOG_INFO, "users", "user added user=%s admin=%d", name, admin != 0);
    return 0;
}

int users_get(struct users *u, const char *name, struct user *out)
{
    sqlite3_stmt *s;
    int rc = JP_ENOENT;

    if (!name_valid(name))
        return JP_ENOENT;
    s = prep(u, "SELECT " USER_COLS " FROM users WHERE name = ?", "t", name);
    if (!s)
        return JP_EIO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        read_user(s, 0, out);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

int users_get_by_id(struct users *u, int64_t id, struct user *out)
{
    sqlite3_stmt *s = prep(u, "SELECT " USER_COLS " FROM users WHERE id = ?", "i", id);
    int rc = JP_ENOENT;

    if (!s)
        return JP_EIO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        read_user(s, 0, out);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

int users_delete(struct users *u, const char *name)
{
    struct user x;
    int rc;

    if (users_get(u, name, &x) != 0)
        return JP_ENOENT;
    if (sqlite3_exec(u->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return JP_EIO;
    /* explicit, so the tokens go even where foreign keys are off */
    finish(u, prep(u, "DELETE FROM tokens WHERE user_id = ?", "i", x.id), NULL);
    finish(u, prep(u, "DELETE FROM quotas WHERE user_id = ?", "i", x.id), NULL);
    rc = finish(u, prep(u, "DELETE FROM users WHERE id = ?", "i", x.id), NULL);
    if (rc < 0) {
        sqlite3_exec(u->db, "ROLLBACK", NULL, NULL, NULL);
        return JP_EIO;
    }
    if (sqlite3_exec(u->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(u->db, "ROLLBACK", NULL, NULL, NULL);
        return JP_EIO;
    }
    for (int i = 0; i < TOUCH_SLOTS; i++)
        if (u->touch[i].user_id == x.id)
            u->touch[i].user_id = 0;
    jp_log(JP_LOG_INFO, "users", "user deleted user=%s", x.name);
    return rc > 0 ? 0 : JP_ENOENT;
}

int users_set_admin(struct users *u, const char *name, int admin)
{
    int rc;

    if (!name_valid(name))
        return JP_ENOENT;
    rc = finish(
        u, prep(u, "UPDATE users SET admin = ? WHERE name = ?", "it", (int64_t)(admin != 0), name),
        NULL);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return JP_ENOENT;
    jp_log(JP_LOG_INFO, "users", "role changed user=%s admin=%d", name, admin != 0);
    return 0;
}

int users_set_password(struct users *u, const char *name, const char *password)
{
    char hash[crypto_pwhash_STRBYTES];
    int rc;

    if (!name_valid(name))
        return JP_ENOENT;
    if (password && !password_valid(password))
        return JP_EINVAL;
    if (password && hash_password(password, hash) != 0)
        return JP_ENOMEM;
    rc = finish(
        u,
        prep(u, "UPDATE users SET pwhash = ? WHERE name = ?", "nt", password ? hash : NULL, name),
        NULL);
    sodium_memzero(hash, sizeof hash);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return JP_ENOENT;
    jp_log(JP_LOG_INFO, "users", "password changed user=%s", name);
    return 0;
}

json_t *users_list(struct users *u)
{
    sqlite3_stmt *s = prep(u, "SELECT " USER_COLS " FROM users ORDER BY name", "");
    json_t *arr = json_array();

    if (!s || !arr) {
        sqlite3_finalize(s);
        json_decref(arr);
        return NULL;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct user x;
        read_user(s, 0, &x);
        json_array_append_new(arr, json_pack("{s:s, s:b, s:o, s:o}", "name", x.name, "admin",
                                             x.admin, "created", time_json(x.created_us),
                                             "last_activity", time_json(x.last_activity_us)));
    }
    sqlite3_finalize(s);
    return arr;
}

void users_touch(struct users *u, int64_t user_id)
{
    struct touch_slot *t = &u->touch[(uint64_t)user_id % TOUCH_SLOTS];
    int64_t now = now_us(u);

    if (t->user_id == user_id && now - t->at_us < TOUCH_EVERY_S * US_PER_S && now >= t->at_us)
        return;
    if (finish(u, prep(u, "UPDATE users SET last_activity = ? WHERE id = ?", "ii", now, user_id),
               NULL) >= 0) {
        t->user_id = user_id;
        t->at_us = now;
    }
}

/* ---- login throttling -------------------------------------------------------------------- */

/* A quiet window after the last failure, or after the end of the block it caused: the count
 * starts afresh. */
static int throttle_stale(const struct throttle *t, int64_t now)
{
    int64_t since = t->blocked_until_us > t->last_fail_us ? t->blocked_until_us : t->last_fail_us;

    return now - since >= THROTTLE_WINDOW_S * US_PER_S;
}

static struct throttle *throttle_find(struct users *u, const char *key, int create)
{
    int64_t now = now_us(u);
    size_t oldest = 0;

    for (size_t i = 0; i < u->nthr; i++)
        if (strcmp(u->thr[i].key, key) == 0)
            return &u->thr[i];
    if (!create)
        return NULL;
    if (!u->thr) {
        u->thr = calloc(THROTTLE_KEYS, sizeof *u->thr);
        if (!u->thr)
            return NULL;
    }
    if (u->nthr == THROTTLE_KEYS) {
        /* full: drop the entries that no longer matter, else the one idle longest */
        size_t j = 0;
        for (size_t i = 0; i < u->nthr; i++) {
            struct throttle *t = &u->thr[i];
            if (throttle_stale(t, now))
                continue;
            u->thr[j++] = *t;
        }
        u->nthr = j;
        if (j == THROTTLE_KEYS) {
            for (size_t i = 1; i < j; i++)
                if (u->thr[i].last_fail_us < u->thr[oldest].last_fail_us)
                    oldest = i;
            u->thr[oldest] = u->thr[--u->nthr];
        }
    }
    memset(&u->thr[u->nthr], 0, sizeof u->thr[u->nthr]);
    snprintf(u->thr[u->nthr].key, sizeof u->thr[u->nthr].key, "%s", key);
    return &u->thr[u->nthr++];
}

static void throttle_key(char *out, size_t outlen, char kind, const char *what)
{
    snprintf(out, outlen, "%c:%.*s", kind, (int)(sizeof((struct throttle *)0)->key - 3), what);
}

/* Seconds the key is still blocked for (0: not blocked). */
static int throttle_wait(struct users *u, const char *key)
{
    struct throttle *t = throttle_find(u, key, 0);
    int64_t now = now_us(u);

    if (!t || now >= t->blocked_until_us)
        return 0;
    return (int)((t->blocked_until_us - now + US_PER_S - 1) / US_PER_S);
}

static void throttle_fail(struct users *u, const char *key)
{
    struct throttle *t = throttle_find(u, key, 1);
    int64_t now = now_us(u);
    int64_t delay;

    if (!t)
        return;
    if (throttle_stale(t, now))
        t->failures = 0;
    t->failures++;
    t->last_fail_us = now;
    if (t->failures < THROTTLE_FREE)
        return;
    delay = t->failures - THROTTLE_FREE >= 9 ? THROTTLE_MAX_S
                                             : (int64_t)1 << (t->failures - THROTTLE_FREE);
    if (delay > THROTTLE_MAX_S)
        delay = THROTTLE_MAX_S;
    t->blocked_until_us = now + delay * US_PER_S;
}

static void throttle_clear(struct users *u, const char *key)
{
    struct throttle *t = throttle_find(u, key, 0);

    if (t)
        *t = u->thr[--u->nthr];
}

/* ---- password login ---------------------------------------------------------------------- */

int users_login(struct users *u, const char *name, const char *password, const char *client_ip,
                struct user *out, int *retry_s)
{
    char nkey[sizeof((struct throttle *)0)->key], ikey[sizeof nkey];
    char hash[crypto_pwhash_STRBYTES];
    const char *ip = client_ip && client_ip[0] ? client_ip : NULL;
    int valid = name_valid(name), known = 0, ok, wait, iwait = 0;
    struct user x;
    sqlite3_stmt *s;

    memset(&x, 0, sizeof x);
    if (retry_s)
        *retry_s = 0;
    throttle_key(nkey, sizeof nkey, 'n', valid ? name : "");
    if (ip)
        throttle_key(ikey, sizeof ikey, 'i', ip);
    wait = valid ? throttle_wait(u, nkey) : 0;
    if (ip)
        iwait = throttle_wait(u, ikey);
    if (iwait > wait)
        wait = iwait;
    if (wait > 0) {
        if (retry_s)
            *retry_s = wait;
        jp_log(JP_LOG_WARN, "users", "login throttled user=%s ip=%s retry_s=%d",
               valid ? name : "(invalid)", ip ? ip : "-", wait);
        return JP_ERANGE;
    }
    if (dummy_ready() != 0)
        return JP_ENOMEM;

    hash[0] = '\0';
    if (valid) {
        s = prep(u, "SELECT " USER_COLS ", pwhash FROM users WHERE name = ?", "t", name);
        if (!s)
            return JP_EIO;
        if (sqlite3_step(s) == SQLITE_ROW) {
            read_user(s, 0, &x);
            known = 1;
            if (sqlite3_column_type(s, 5) == SQLITE_TEXT)
                snprintf(hash, sizeof hash, "%s", col_text(s, 5));
        }
        sqlite3_finalize(s);
    }
    /* the same Argon2 work whether or not the user exists or has a password */
    if (!password)
        password = "";
    ok = crypto_pwhash_str_verify(hash[0] ? hash : dummy_hash, password,
                                  strnlen(password, PASSWORD_MAX + 1)) == 0 &&
         hash[0] && password_valid(password);

    if (!ok) {
        if (valid)
            throttle_fail(u, nkey);
        if (ip)
            throttle_fail(u, ikey);
        jp_log(JP_LOG_WARN, "users", "login failed user=%s ip=%s known=%d",
               valid ? name : "(invalid)", ip ? ip : "-", known);
        audit_steal(u, "", "login_failed", valid ? name : "",
                    json_pack("{s:s}", "ip", ip ? ip : ""));
        sodium_memzero(hash, sizeof hash);
        return JP_EINVAL;
    }
    throttle_clear(u, nkey);
    /* keep stored hashes at today's cost when the limits move */
    if (crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        users_set_password(u, name, password);
    sodium_memzero(hash, sizeof hash);
    jp_log(JP_LOG_INFO, "users", "login user=%s ip=%s", name, ip ? ip : "-");
    audit_steal(u, name, "login", name, json_pack("{s:s}", "ip", ip ? ip : ""));
    if (out)
        *out = x;
    return 0;
}

/* ---- tokens ------------------------------------------------------------------------------ */

static void token_hash_hex(const char *token, char out[2 * crypto_hash_sha256_BYTES + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, 2 * crypto_hash_sha256_BYTES + 1, h, sizeof h);
}

char *users_token_new(struct users *u, const char *name, const char *note, int64_t expires_in_s,
                      int64_t *token_id)
{
    unsigned char raw[TOKEN_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    char *tok;
    struct user x;
    int64_t now = now_us(u), expires = 0;
    size_t plen = sizeof USERS_TOKEN_PREFIX - 1;

    if (expires_in_s < 0 || expires_in_s > INT64_MAX / US_PER_S - now / US_PER_S - 1)
        return NULL;
    if (note && strlen(note) > 1024)
        return NULL;
    if (users_get(u, name, &x) != 0)
        return NULL;
    tok = malloc(TOKEN_LEN + 1);
    if (!tok)
        return NULL;
    memcpy(tok, USERS_TOKEN_PREFIX, plen);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(tok + plen, TOKEN_B64_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    token_hash_hex(tok, hex);
    if (expires_in_s > 0)
        expires = now + expires_in_s * US_PER_S;
    if (finish(u,
               prep(u,
                    "INSERT INTO tokens (user_id, hash, note, created, expires) VALUES "
                    "(?,?,?,?,?)",
                    "ittii", x.id, hex, note ? note : "", now, expires),
               NULL) <= 0) {
        sodium_memzero(tok, TOKEN_LEN + 1);
        free(tok);
        return NULL;
    }
    if (token_id)
        *token_id = sqlite3_last_insert_rowid(u->db);
    jp_log(JP_LOG_INFO, "users", "token created user=%s token_id=%lld", x.name,
           (long long)sqlite3_last_insert_rowid(u->db));
    return tok;
}

int users_token_check(struct users *u, const char *token, struct user *out)
{
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sqlite3_stmt *s;
    int rc = JP_ENOENT;
    int64_t now = now_us(u), tid = 0, last_used = 0;

    if (!token || strlen(token) != TOKEN_LEN ||
        strncmp(token, USERS_TOKEN_PREFIX, sizeof USERS_TOKEN_PREFIX - 1) != 0)
        return JP_ENOENT;
    token_hash_hex(token, hex);
    s = prep(u,
             "SELECT t.id, t.hash, t.expires, t.last_used, u.id, u.name, u.admin, u.created, "
             "u.last_activity FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
             "t", hex);
    if (!s)
        return JP_EIO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *stored = col_text(s, 1);
        int64_t expires = sqlite3_column_int64(s, 2);
        if (strlen(stored) == sizeof hex - 1 && sodium_memcmp(stored, hex, sizeof hex - 1) == 0 &&
            (expires == 0 || now < expires)) {
            tid = sqlite3_column_int64(s, 0);
            last_used = sqlite3_column_int64(s, 3);
            if (out)
                read_user(s, 4, out);
            rc = 0;
        }
    }
    sqlite3_finalize(s);
    if (rc == 0 && (now - last_used >= LAST_USED_EVERY_S * US_PER_S || now < last_used))
        finish(u, prep(u, "UPDATE tokens SET last_used = ? WHERE id = ?", "ii", now, tid), NULL);
    return rc;
}

json_t *users_token_list(struct users *u, const char *name)
{
    struct user x;
    sqlite3_stmt *s;
    json_t *arr;

    if (users_get(u, name, &x) != 0)
        return NULL;
    s = prep(u,
             "SELECT id, note, created, expires, last_used FROM tokens WHERE user_id = ? ORDER BY "
             "id",
             "i", x.id);
    arr = json_array();
    if (!s || !arr) {
        sqlite3_finalize(s);
        json_decref(arr);
        return NULL;
    }
    while (sqlite3_step(s) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{s:I, s:s, s:o, s:o, s:o}", "id",
                                             (json_int_t)sqlite3_column_int64(s, 0), "note",
                                             col_text(s, 1), "created",
                                             time_json(sqlite3_column_int64(s, 2)), "expires",
                                             time_json(sqlite3_column_int64(s, 3)), "last_used",
                                             time_json(sqlite3_column_int64(s, 4))));
    sqlite3_finalize(s);
    return arr;
}

int users_token_revoke(struct users *u, const char *name, int64_t token_id)
{
    struct user x;
    int rc;

    if (users_get(u, name, &x) != 0)
        return JP_ENOENT;
    rc = finish(u, prep(u, "DELETE FROM tokens WHERE id = ? AND user_id = ?", "ii", token_id, x.id),
                NULL);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return JP_ENOENT;
    jp_log(JP_LOG_INFO, "users", "token revoked user=%s token_id=%lld", x.name,
           (long long)token_id);
    return 0;
}

/* ---- quotas ------------------------------------------------------------------------------ */

static int quota_valid(const struct users_quota *q, int min)
{
    return q && q->max_kernels >= min && q->max_gpus >= min && q->max_idle_s >= min;
}

int users_quota_get(struct users *u, const char *name, struct users_quota *out)
{
    struct user x;
    sqlite3_stmt *s;

    if (users_get(u, name, &x) != 0)
        return JP_ENOENT;
    s = prep(u, "SELECT max_kernels, max_gpus, max_idle_s FROM quotas WHERE user_id = ?", "i",
             x.id);
    if (!s)
        return JP_EIO;
    out->max_kernels = out->max_gpus = out->max_idle_s = -1;
    if (sqlite3_step(s) == SQLITE_ROW) {
        out->max_kernels = sqlite3_column_int(s, 0);
        out->max_gpus = sqlite3_column_int(s, 1);
        out->max_idle_s = sqlite3_column_int(s, 2);
    }
    sqlite3_finalize(s);
    return 0;
}

int users_quota_set(struct users *u, const char *name, const struct users_quota *q)
{
    struct user x;

    if (!quota_valid(q, -1))
        return JP_EINVAL;
    if (users_get(u, name, &x) != 0)
        return JP_ENOENT;
    if (finish(u,
               prep(u, "INSERT OR REPLACE INTO quotas VALUES (?,?,?,?)", "iiii", x.id,
                    (int64_t)q->max_kernels, (int64_t)q->max_gpus, (int64_t)q->max_idle_s),
               NULL) < 0)
        return JP_EIO;
    jp_log(JP_LOG_INFO, "users", "quota set user=%s max_kernels=%d max_gpus=%d max_idle_s=%d",
           x.name, q->max_kernels, q->max_gpus, q->max_idle_s);
    return 0;
}

void users_quota_defaults(struct users *u, struct users_quota *out)
{
    sqlite3_stmt *s =
        prep(u, "SELECT max_kernels, max_gpus, max_idle_s FROM quota_defaults WHERE id = 1", "");

    *out = initial_defaults;
    if (s && sqlite3_step(s) == SQLITE_ROW) {
        out->max_kernels = sqlite3_column_int(s, 0);
        out->max_gpus = sqlite3_column_int(s, 1);
        out->max_idle_s = sqlite3_column_int(s, 2);
    }
    sqlite3_finalize(s);
}

int users_quota_set_defaults(struct users *u, const struct users_quota *q)
{
    if (!quota_valid(q, 0))
        return JP_EINVAL;
    if (finish(u,
               prep(u, "INSERT OR REPLACE INTO quota_defaults VALUES (1,?,?,?)", "iii",
                    (int64_t)q->max_kernels, (int64_t)q->max_gpus, (int64_t)q->max_idle_s),
               NULL) < 0)
        return JP_EIO;
    jp_log(JP_LOG_INFO, "users", "default quota set max_kernels=%d max_gpus=%d max_idle_s=%d",
           q->max_kernels, q->max_gpus, q->max_idle_s);
    return 0;
}

int users_quota_effective(struct users *u, const char *name, struct users_quota *out)
{
    struct users_quota own, def;
    int rc = users_quota_get(u, name, &own);

    if (rc != 0)
        return rc;
    users_quota_defaults(u, &def);
    out->max_kernels = own.max_kernels >= 0 ? own.max_kernels : def.max_kernels;
    out->max_gpus = own.max_gpus >= 0 ? own.max_gpus : def.max_gpus;
    out->max_idle_s = own.max_idle_s >= 0 ? own.max_idle_s : def.max_idle_s;
    return 0;
}

/* ---- audit ------------------------------------------------------------------------------- */

void users_audit(struct users *u, const char *actor, const char *action, const char *target,
                 const json_t *detail)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    finish(u,
           prep(u, "INSERT INTO audit (time, actor, action, target, detail) VALUES (?,?,?,?,?)",
                "itttn", now_us(u), actor ? actor : "", action ? action : "", target ? target : "",
                text),
           NULL);
    free(text);
}

/* users_audit taking a new reference to detail (NULL allowed). */
static void audit_steal(struct users *u, const char *actor, const char *action, const char *target,
                        json_t *detail)
{
    users_audit(u, actor, action, target, detail);
    json_decref(detail);
}

json_t *users_audit_list(struct users *u, int limit)
{
    sqlite3_stmt *s;
    json_t *arr;

    if (limit <= 0)
        limit = 100;
    s = prep(u, "SELECT time, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?",
             "i", (int64_t)limit);
    arr = json_array();
    if (!s || !arr) {
        sqlite3_finalize(s);
        json_decref(arr);
        return NULL;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        json_t *detail = NULL;
        if (sqlite3_column_type(s, 4) == SQLITE_TEXT)
            detail = json_loads(col_text(s, 4), JSON_DECODE_ANY, NULL);
        json_array_append_new(arr,
                              json_pack("{s:o, s:s, s:s, s:s, s:o}", "time",
                                        time_json(sqlite3_column_int64(s, 0)), "actor",
                                        col_text(s, 1), "action", col_text(s, 2), "target",
                                        col_text(s, 3), "detail", detail ? detail : json_null()));
    }
    sqlite3_finalize(s);
    return arr;
}

/* ---- command line ------------------------------------------------------------------------ */

static void cli_usage(void)
{
    fputs("usage: cnote-server user add NAME [--admin] [--password-stdin]\n"
          "       cnote-server user delete NAME\n"
          "       cnote-server user list\n"
          "       cnote-server user token NAME [--note TEXT] [--expires-in SECONDS]\n"
          "       cnote-server user admin NAME on|off\n"
          "       cnote-server user passwd NAME        (the password is read from stdin)\n",
          stderr);
}

/* One line of stdin into buf without its line ending; with a terminal, prompt and do not
 * echo. 0, or -1 when nothing could be read or the line is too long. */
static int read_password(char *buf, size_t len)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO), restore = 0;
    size_t n;

    if (tty) {
        fputs("Password: ", stderr);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    if (!fgets(buf, (int)len, stdin))
        buf[0] = '\0';
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    n = strlen(buf);
    if (n == len - 1 && buf[n - 1] != '\n' && !feof(stdin))
        return -1;
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return n ? 0 : -1;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int users_cli(int argc, char **argv, const char *data_dir)
{
    char path[4096], why[256] = "", pw[PASSWORD_MAX + 2];
    const char *cmd, *name = NULL;
    struct users *u = NULL;
    int rc = 1;

    if (argc > 0 && strcmp(argv[0], "user") == 0) {
        argc--;
        argv++;
    }
    if (argc < 1) {
        cli_usage();
        return 2;
    }
    cmd = argv[0];
    if (strcmp(cmd, "list") == 0 ? argc != 1 : argc < 2) {
        cli_usage();
        return 2;
    }
    name = argc > 1 ? argv[1] : NULL;
    if (!data_dir || !data_dir[0])
        data_dir = ".";
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "cnote-server: cannot create %s: %s\n", data_dir, strerror(errno));
        return 1;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/users.db", data_dir) >= sizeof path) {
        fprintf(stderr, "cnote-server: data directory path too long\n");
        return 1;
    }

    if (strcmp(cmd, "add") == 0) {
        int admin = 0, from_stdin = 0;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--admin") == 0)
                admin = 1;
            else if (strcmp(argv[i], "--password-stdin") == 0)
                from_stdin = 1;
            else
                goto usage;
        }
        if (from_stdin && read_password(pw, sizeof pw) != 0) {
            fprintf(stderr, "cnote-server: no password on stdin (or longer than %d bytes)\n",
                    PASSWORD_MAX);
            goto out;
        }
        if (!(u = users_open(path, why, sizeof why)))
            goto fail_open;
        if (users_add(u, name, admin, from_stdin ? pw : NULL, why, sizeof why) != 0) {
            fprintf(stderr, "cnote-server: %s\n", why);
            goto out;
        }
        audit_steal(u, "cli", "user_add", name, json_pack("{s:b}", "admin", admin));
        printf("added user %s%s\n", name, admin ? " (admin)" : "");
        rc = 0;
    } else if (strcmp(cmd, "delete") == 0) {
        if (argc != 2)
            goto usage;
        if (!(u = users_open(path, why, sizeof why)))
            goto fail_open;
        if (users_delete(u, name) != 0) {
            fprintf(stderr, "cnote-server: no user %s\n", name);
            goto out;
        }
        users_audit(u, "cli", "user_delete", name, NULL);
        printf("deleted user %s\n", name);
        rc = 0;
    } else if (strcmp(cmd, "list") == 0) {
        json_t *arr, *e;
        size_t i;
        if (!(u = users_open(path, why, sizeof why)))
            goto fail_open;
        if (!(arr = users_list(u)))
            goto out;
        printf("%-32s %-5s %-27s %s\n", "NAME", "ADMIN", "CREATED", "LAST ACTIVITY");
        json_array_foreach(arr, i, e)
        {
            const char *last = json_string_value(json_object_get(e, "last_activity"));
            const char *nm = json_string_value(json_object_get(e, "name"));
            const char *created = json_string_value(json_object_get(e, "created"));
            printf("%-32s %-5s %-27s %s\n", nm ? nm : "?",
                   json_is_true(json_object_get(e, "admin")) ? "yes" : "no",
                   created ? created : "-", last ? last : "never");
        }
        json_decref(arr);
        rc = 0;
    } else if (strcmp(cmd, "token") == 0) {
        const char *note = NULL;
        int64_t expires = 0, tid = 0;
        char *tok;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--note") == 0 && i + 1 < argc)
                note = argv[++i];
            else if (strcmp(argv[i], "--expires-in") == 0 && i + 1 < argc) {
                if (parse_i64(argv[++i], &expires) != 0)
                    goto usage;
            } else
                goto usage;
        }
        if (!(u = users_open(path, why, sizeof why)))
            goto fail_open;
        if (!(tok = users_token_new(u, name, note, expires, &tid))) {
            fprintf(stderr, "cnote-server: cannot create a token for %s (no such user?)\n", name);
            goto out;
        }
        audit_steal(u, "cli", "token_new", name,
                    json_pack("{s:I, s:s, s:I}", "token_id", (json_int_t)tid, "note",
                              note ? note : "", "expires_in", (json_int_t)expires));
        printf("%s\n", tok);
        sodium_memzero(tok, strlen(tok));
        free(tok);
        rc = 0;
    } else if (strcmp(cmd, "admin") == 0) {
        int on;
        if (argc != 3 || (strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0))
            goto usage;
        on = strcmp(argv[2], "on") == 0;
        if (!(u = users_open(path, why, sizeof why)))
            goto fail_open;
        if (users_set_admin(u, name, on) != 0) {
            fprintf(stderr, "cnote-server: no user %s\n", name);
            goto out;
        }
        audit_steal(u, "cli", "user_admin", name, json_pack("{s:b}", "admin", on));
        printf("user %s %s admin\n", name, on ? "is now" : "is no longer");
        rc = 0;
    } else if (strcmp(cmd, "passwd") == 0) {
        struct user x;
        int r;
        if (argc != 2)
            goto usage;
        if (read_password(pw, sizeof pw) != 0) {
            fprintf(stderr, "cnote-server: no password on stdin (or longer than %d bytes)\n",
                    PASSWORD_MAX);
            goto out;
        }
        if (!(u = users_open(path, why, sizeof why)))
            goto fail_open;
        if (users_get(u, name, &x) != 0) {
            fprintf(stderr, "cnote-server: no user %s\n", name);
            goto out;
        }
        if ((r = users_set_password(u, name, pw)) != 0) {
            fprintf(stderr, "cnote-server: cannot set the password: %s\n", jp_strerror(r));
            goto out;
        }
        users_audit(u, "cli", "user_passwd", name, NULL);
        printf("password set for %s\n", name);
        rc = 0;
    } else {
        goto usage;
    }
    goto out;

usage:
    cli_usage();
    rc = 2;
    goto out;
fail_open:
    fprintf(stderr, "cnote-server: %s\n", why);
    rc = 1;
out:
    sodium_memzero(pw, sizeof pw);
    users_close(u);
    fflush(stdout);
    return rc;
}
