/*
 * jp_conn.h - Jupyter connection files (kernel spec docs, "Connection files"): read,
 * write (mode 0600, atomically), and build endpoint strings for tcp and ipc transports.
 * Does not bind or connect anything.
 */
#ifndef JP_CONN_H
#define JP_CONN_H

#include <stddef.h>

enum jp_channel { JP_CH_SHELL, JP_CH_IOPUB, JP_CH_STDIN, JP_CH_CONTROL, JP_CH_HB, JP_CH_COUNT };

struct jp_conn {
    char transport[8]; /* "tcp" or "ipc" */
    char ip[256];      /* address for tcp, path prefix for ipc */
    int ports[JP_CH_COUNT];
    char signature_scheme[32]; /* "hmac-sha256" */
    char *key;                 /* owned, NUL-terminated; may be "" */
    size_t key_len;
    char kernel_name[128]; /* may be "" */
};

/* Channel names as the connection file spells them without "_port": "shell", "iopub", ...;
 * "" for a value out of range. */
const char *jp_conn_channel_name(enum jp_channel ch);

/* Read and validate a connection file. Requires transport ("tcp" or "ipc"), a non-empty ip,
 * the five ports (JSON integers 0..65535), key (string) and accepts an absent
 * signature_scheme (defaults to hmac-sha256); any other scheme is JP_EINVAL. kernel_name is
 * optional. Unknown keys are ignored. Errors: JP_EIO (cannot open or read), JP_EPARSE (not
 * JSON), JP_EINVAL (not an object, a field missing, mistyped, too long or out of range, a
 * file over 1 MiB), JP_ENOMEM; on error *c is zeroed and `why` (if not NULL, whylen bytes)
 * says what was wrong. *c is treated as uninitialised on entry. On success free the key with
 * jp_conn_dispose. Copies of the key made while parsing are wiped. */
int jp_conn_load(const char *path, struct jp_conn *c, char *why, size_t whylen);
/* Same from a JSON text in memory (len bytes). */
int jp_conn_parse(const char *text, size_t len, struct jp_conn *c, char *why, size_t whylen);
/* Write c to path as JSON with mode 0600 (temporary file "<path>.tmp.XXXXXX" in the same
 * directory, fsync, rename, fsync of the directory); an empty signature_scheme is written as
 * hmac-sha256. 0, JP_EIO, JP_ENOMEM, or JP_EINVAL (unknown transport, port out of range,
 * a string that is not NUL-terminated in its array or not UTF-8). */
int jp_conn_save(const struct jp_conn *c, const char *path);
/* Wipe and free the key. NULL-safe, idempotent. */
void jp_conn_dispose(struct jp_conn *c);
/* Endpoint for a channel: "tcp://IP:PORT" or "ipc://IP-PORT". Returns the snprintf-style
 * length, JP_ERANGE if it did not fit, or JP_EINVAL for an unknown channel or transport. */
int jp_conn_endpoint(const struct jp_conn *c, enum jp_channel ch, char *out, size_t outlen);

#endif
