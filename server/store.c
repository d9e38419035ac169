/*
 * store.c - SQLite persistence of kernels and sessions (see store.h). Every statement is
 * prepared with bound parameters; nothing from a request is ever pasted into SQL.
 */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "jp_log.h"

struct store {
    sqlite3 *db;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS kernels (id TEXT PRIMARY KEY, name TEXT NOT NULL, pid INTEGER "
    "NOT NULL, connection_file TEXT NOT NULL, cwd TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, path TEXT NOT NULL, name TEXT "
    "NOT NULL, type TEXT NOT NULL, kernel_id TEXT NOT NULL);"
    /* kernels that run under the remote (Kubernetes) provisioner */
    "CREATE TABLE IF NOT EXISTS remote_kernels (id TEXT PRIMARY KEY);"
    /* the user a kernel belongs to (multi-user mode) */
    "CREATE TABLE IF NOT EXISTS kernel_owners (id TEXT PRIMARY KEY, owner TEXT NOT NULL);";

struct store *store_open(const char *path)
{
    struct store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    if (sqlite3_open(path, &st->db) != SQLITE_OK ||
        sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        jp_log(JP_LOG_ERROR, "store", "cannot open state database path=%s err=%s", path,
               st->db ? sqlite3_errmsg(st->db) : "out of memory");
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 2000);
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st);
}

/* Run sql with up to 5 text/int parameters ("t" or "i" per parameter in types). */
static int run(struct store *st, const char *sql, const char *types, ...)
{
    sqlite3_stmt *s;
    va_list ap;
    int rc;
    if (!st || sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 'i')
            sqlite3_bind_int64(s, i + 1, va_arg(ap, long long));
        else
            sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    va_end(ap);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        jp_log(JP_LOG_WARN, "store", "write failed err=%s", sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

int store_put_kernel(struct store *st, const struct kmgr_record *rec)
{
    int rc = run(st, "INSERT OR REPLACE INTO kernels VALUES (?,?,?,?,?)", "ttitt", rec->id,
                 rec->name, (long long)rec->pid, rec->connection_file, rec->cwd);
    if (rc == 0)
        rc = rec->remote ? run(st, "INSERT OR REPLACE INTO remote_kernels VALUES (?)", "t", rec->id)
                         : run(st, "DELETE FROM remote_kernels WHERE id = ?", "t", rec->id);
    if (rc == 0)
        rc = rec->owner[0] ? run(st, "INSERT OR REPLACE INTO kernel_owners VALUES (?,?)", "tt",
                                 rec->id, rec->owner)
                           : run(st, "DELETE FROM kernel_owners WHERE id = ?", "t", rec->id);
    return rc;
}

int store_del_kernel(struct store *st, const char *id)
{
    run(st, "DELETE FROM remote_kernels WHERE id = ?", "t", id);
    run(st, "DELETE FROM kernel_owners WHERE id = ?", "t", id);
    return run(st, "DELETE FROM kernels WHERE id = ?", "t", id);
}

int store_put_session(struct store *st, const struct session *x)
{
    return run(st, "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?)", "ttttt", x->id, x->path,
               x->name, x->type, x->kernel_id);
}

int store_del_session(struct store *st, const char *id)
{
    return run(st, "DELETE FROM sessions WHERE id = ?", "t", id);
}

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

int store_load(struct store *st, void (*fn)(void *ctx, const struct kmgr_record *rec),
               void (*sfn)(void *ctx, const struct session *x), void *ctx)
{
    sqlite3_stmt *s;
    if (!st)
        return -1;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, name, pid, connection_file, cwd, id IN (SELECT id FROM "
                           "remote_kernels), (SELECT owner FROM kernel_owners o WHERE o.id = "
                           "kernels.id) FROM kernels",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct kmgr_record rec;
        memset(&rec, 0, sizeof rec);
        snprintf(rec.id, sizeof rec.id, "%s", col(s, 0));
        snprintf(rec.name, sizeof rec.name, "%s", col(s, 1));
        rec.pid = (pid_t)sqlite3_column_int64(s, 2);
        snprintf(rec.connection_file, sizeof rec.connection_file, "%s", col(s, 3));
        snprintf(rec.cwd, sizeof rec.cwd, "%s", col(s, 4));
        rec.remote = sqlite3_column_int(s, 5);
        snprintf(rec.owner, sizeof rec.owner, "%s", col(s, 6));
        fn(ctx, &rec);
    }
    sqlite3_finalize(s);
    if (sqlite3_prepare_v2(st->db, "SELECT id, path, name, type, kernel_id FROM sessions", -1, &s,
                           NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct session x;
        memset(&x, 0, sizeof x);
        snprintf(x.id, sizeof x.id, "%s", col(s, 0));
        x.path = (char *)col(s, 1);
        x.name = (char *)col(s, 2);
        x.type = (char *)col(s, 3);
        snprintf(x.kernel_id, sizeof x.kernel_id, "%s", col(s, 4));
        sfn(ctx, &x);
    }
    sqlite3_finalize(s);
    return 0;
}
