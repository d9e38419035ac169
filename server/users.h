/*
 * users.h - the users of a multi-user cnote: accounts with a role (user or admin), passwords
 * hashed with Argon2id (libsodium crypto_pwhash_str), API tokens stored as SHA-256 hashes with
 * an optional expiry (listable, revocable), per-user quotas, last activity, an audit log of
 * admin and security-relevant actions, and login throttling. One SQLite file
 * (<data-dir>/users.db). Tokens and passwords are never logged; comparisons are constant time.
 *
 * Threading: one thread (the server's loop). Every call is synchronous (SQLite, a few ms at
 * most; Argon2 verification ~50-100 ms by design, only at login).
 */
#ifndef USERS_H
#define USERS_H

#include <stdint.h>

#include <jansson.h>

struct users;

#define USERS_NAME_MAX 64 /* user names: 1-64 of [a-z0-9._-], starting with a letter or digit */
#define USERS_TOKEN_PREFIX "cnote_"

struct user {
    int64_t id;
    char name[USERS_NAME_MAX + 1];
    int admin;
    int64_t created_us, last_activity_us; /* 0: never */
};

/* Quotas: -1 = use the default, 0 = none allowed, >0 the limit. */
struct users_quota {
    int max_kernels; /* running kernels */
    int max_gpus;    /* GPUs held by running kernels */
    int max_idle_s;  /* idle time before a kernel is culled */
};

/* Open (creating the schema) <path>. NULL with why on failure. */
struct users *users_open(const char *path, char *why, size_t whylen);
void users_close(struct users *u);
/* Tests: the clock behind expiry, throttling and times (NULL: jp_time_now_us). */
void users_set_clock(struct users *u, int64_t (*now)(void));
/* Number of users (0: single-user mode). */
int users_count(struct users *u);

/* Add a user (password may be NULL: token login only). 0, JP_EINVAL (bad name, with why),
 * JP_EIO (exists: why says so). */
int users_add(struct users *u, const char *name, int admin, const char *password, char *why,
              size_t whylen);
/* 0 or JP_ENOENT. Deleting removes the user's tokens too. */
int users_delete(struct users *u, const char *name);
int users_set_admin(struct users *u, const char *name, int admin);
int users_set_password(struct users *u, const char *name, const char *password);
/* Fill *out; 0 or JP_ENOENT. */
int users_get(struct users *u, const char *name, struct user *out);
int users_get_by_id(struct users *u, int64_t id, struct user *out);
/* Array of {"name","admin","created","last_activity"} ordered by name. */
json_t *users_list(struct users *u);
void users_touch(struct users *u, int64_t user_id); /* last activity = now (rate-limited) */

/* Password login: 0 and *out when right; JP_EINVAL when wrong or unknown (the same answer and
 * about the same time either way); JP_ERANGE when throttled (*retry_s set): too many failures
 * for this name or from this client address recently. */
int users_login(struct users *u, const char *name, const char *password, const char *client_ip,
                struct user *out, int *retry_s);

/* A new API token for the user: the token (shown once, malloc'd, "cnote_" + 43 base64url
 * characters) or NULL. expires_in_s 0 = never. note may be NULL. *token_id set. */
char *users_token_new(struct users *u, const char *name, const char *note, int64_t expires_in_s,
                      int64_t *token_id);
/* Who a token belongs to: 0 and *out, or JP_ENOENT (unknown, revoked or expired). */
int users_token_check(struct users *u, const char *token, struct user *out);
/* The user's tokens: [{"id","note","created","expires","last_used"}] (never the token). */
json_t *users_token_list(struct users *u, const char *name);
/* Revoke one token of the user. 0 or JP_ENOENT. */
int users_token_revoke(struct users *u, const char *name, int64_t token_id);

/* Quotas: the user's own (fields -1 where the default applies) and the defaults. */
int users_quota_get(struct users *u, const char *name, struct users_quota *out);
int users_quota_set(struct users *u, const char *name, const struct users_quota *q);
void users_quota_defaults(struct users *u, struct users_quota *out);
int users_quota_set_defaults(struct users *u, const struct users_quota *q);
/* The quota that applies to a user: defaults filled in. */
int users_quota_effective(struct users *u, const char *name, struct users_quota *out);

/* Audit log: actor ("" for the system), action ("login", "login_failed", "user_add",
 * "token_new", "kernel_stop", ...), target, detail (JSON object, borrowed, may be NULL). */
void users_audit(struct users *u, const char *actor, const char *action, const char *target,
                 const json_t *detail);
/* The newest `limit` entries (0: 100), newest first:
 * [{"time","actor","action","target","detail"}]. */
json_t *users_audit_list(struct users *u, int limit);

/* `cnote-server user ...` on the command line: add NAME [--admin] [--password-stdin],
 * delete NAME, list, token NAME [--note N] [--expires-in S], admin NAME on|off, passwd NAME
 * (password from stdin). data_dir holds users.db. Prints results; returns the exit status. */
int users_cli(int argc, char **argv, const char *data_dir);

#endif
