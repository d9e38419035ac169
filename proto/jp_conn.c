/*
 * jp_conn.c - Jupyter connection files (kernel docs, "Connection files"; jupyter_client
 * connect.py write_connection_file / load_connection_info).
 *
 * Parses and validates the JSON the server writes for a kernel (transport, ip, five ports,
 * key, signature_scheme, kernel_name), writes it atomically with mode 0600 (temporary file
 * in the same directory, fsync, rename, fsync of the directory), and builds ZeroMQ endpoint
 * strings. The key is a secret: file contents and copies are wiped with OPENSSL_cleanse
 * before they are freed. Does not bind, connect or pick ports. Called by the kernel at
 * startup (load) and by the server's local provisioner (save).
 */
#include "jp_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_err.h"

#define CONN_FILE_MAX (1024 * 1024) /* a connection file is a few hundred bytes */
#define DEFAULT_SCHEME "hmac-sha256"

static const char *const channel_names[JP_CH_COUNT] = {"shell", "iopub", "stdin", "control", "hb"};

const char *jp_conn_channel_name(enum jp_channel ch)
{
    return (unsigned)ch < JP_CH_COUNT ? channel_names[ch] : "";
}

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Copy a required or optional string member into dst (size bytes). */
static int get_str(json_t *obj, const char *key, int required, char *dst, size_t size, char *why,
                   size_t whylen)
{
    json_t *v = json_object_get(obj, key);
    size_t len;

    if (!v) {
        if (!required)
            return 0;
        set_why(why, whylen, "missing \"%s\"", key);
        return JP_EINVAL;
    }
    if (!json_is_string(v)) {
        set_why(why, whylen, "\"%s\" is not a string", key);
        return JP_EINVAL;
    }
    len = json_string_length(v);
    if (len >= size) {
        set_why(why, whylen, "\"%s\" is longer than %zu bytes", key, size - 1);
        return JP_EINVAL;
    }
    memcpy(dst, json_string_value(v), len + 1);
    return 0;
}

/* Wipe a string jansson holds before it is freed: the key must not linger on the heap. */
static void wipe_json_string(json_t *v)
{
    if (json_is_string(v))
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

int jp_conn_parse(const char *text, size_t len, struct jp_conn *c, char *why, size_t whylen)
{
    struct jp_conn tmp;
    json_error_t jerr;
    json_t *root = NULL, *v;
    char portkey[32];
    json_int_t port;
    int i, rc;

    memset(&tmp, 0, sizeof tmp);
    set_why(why, whylen, "%s", "");
    if (!text || !c) {
        rc = JP_EINVAL;
        set_why(why, whylen, "invalid arguments");
        goto out;
    }
    memset(&jerr, 0, sizeof jerr);
    root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0') {
            rc = JP_ENOMEM;
            set_why(why, whylen, "out of memory");
        } else {
            rc = JP_EPARSE;
            set_why(why, whylen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                    jerr.text);
        }
        goto out;
    }
    if (!json_is_object(root)) {
        rc = JP_EINVAL;
        set_why(why, whylen, "not a JSON object");
        goto out;
    }
    rc = get_str(root, "transport", 1, tmp.transport, sizeof tmp.transport, why, whylen);
    if (rc < 0)
        goto out;
    if (strcmp(tmp.transport, "tcp") != 0 && strcmp(tmp.transport, "ipc") != 0) {
        rc = JP_EINVAL;
        set_why(why, whylen, "transport must be \"tcp\" or \"ipc\"");
        goto out;
    }
    rc = get_str(root, "ip", 1, tmp.ip, sizeof tmp.ip, why, whylen);
    if (rc < 0)
        goto out;
    if (tmp.ip[0] == '\0') {
        rc = JP_EINVAL;
        set_why(why, whylen, "\"ip\" is empty");
        goto out;
    }
    for (i = 0; i < JP_CH_COUNT; i++) {
        snprintf(portkey, sizeof portkey, "%s_port", channel_names[i]);
        v = json_object_get(root, portkey);
        if (!json_is_integer(v)) {
            rc = JP_EINVAL;
            set_why(why, whylen, v ? "\"%s\" is not an integer" : "missing \"%s\"", portkey);
            goto out;
        }
        port = json_integer_value(v);
        if (port < 0 || port > 65535) {
            rc = JP_EINVAL;
            set_why(why, whylen, "\"%s\" %lld is out of range 0..65535", portkey, (long long)port);
            goto out;
        }
        tmp.ports[i] = (int)port;
    }
    rc = get_str(root, "signature_scheme", 0, tmp.signature_scheme, sizeof tmp.signature_scheme,
                 why, whylen);
    if (rc < 0)
        goto out;
    if (tmp.signature_scheme[0] == '\0' && !json_object_get(root, "signature_scheme"))
        memcpy(tmp.signature_scheme, DEFAULT_SCHEME, sizeof DEFAULT_SCHEME);
    if (strcmp(tmp.signature_scheme, DEFAULT_SCHEME) != 0) {
        rc = JP_EINVAL;
        set_why(why, whylen, "unsupported signature_scheme (only " DEFAULT_SCHEME ")");
        goto out;
    }
    rc = get_str(root, "kernel_name", 0, tmp.kernel_name, sizeof tmp.kernel_name, why, whylen);
    if (rc < 0)
        goto out;
    v = json_object_get(root, "key");
    if (!json_is_string(v)) {
        rc = JP_EINVAL;
        set_why(why, whylen, v ? "\"key\" is not a string" : "missing \"key\"");
        goto out;
    }
    tmp.key_len = json_string_length(v);
    tmp.key = jp_memdup(json_string_value(v), tmp.key_len + 1);
    if (!tmp.key) {
        rc = JP_ENOMEM;
        set_why(why, whylen, "out of memory");
        goto out;
    }
    *c = tmp;
    rc = 0;
out:
    if (root)
        wipe_json_string(json_object_get(root, "key"));
    json_decref(root);
    if (rc < 0) {
        jp_conn_dispose(&tmp);
        if (c)
            memset(c, 0, sizeof *c);
    }
    return rc;
}

int jp_conn_load(const char *path, struct jp_conn *c, char *why, size_t whylen)
{
    struct jp_buf b;
    char chunk[4096];
    ssize_t r;
    int fd = -1, rc;

    jp_buf_init(&b, CONN_FILE_MAX);
    if (!path || !c) {
        rc = JP_EINVAL;
        set_why(why, whylen, "invalid arguments");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = JP_EIO;
        set_why(why, whylen, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = JP_EIO;
            set_why(why, whylen, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        rc = jp_buf_add(&b, chunk, (size_t)r);
        if (rc == JP_ETOOBIG) {
            rc = JP_EINVAL;
            set_why(why, whylen, "%s is larger than %d bytes", path, CONN_FILE_MAX);
            goto out;
        }
        if (rc < 0) {
            set_why(why, whylen, "out of memory");
            goto out;
        }
    }
    rc = jp_conn_parse(b.data ? b.data : "", b.len, c, why, whylen);
out:
    if (rc < 0 && c)
        memset(c, 0, sizeof *c);
    if (fd >= 0)
        close(fd);
    OPENSSL_cleanse(chunk, sizeof chunk);
    if (b.data)
        OPENSSL_cleanse(b.data, b.cap);
    jp_buf_dispose(&b);
    return rc;
}

static int set_int(json_t *o, const char *key, int v)
{
    return json_object_set_new(o, key, json_integer(v)) == 0 ? 0 : JP_ENOMEM;
}

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as jansson demands
 * of a JSON string; checked here so jp_conn_save can tell bad input from out-of-memory. */
static int utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, len, k;
    uint32_t cp;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xe0) == 0xc0) {
            len = 2;
            cp = s[i] & 0x1f;
        } else if ((s[i] & 0xf0) == 0xe0) {
            len = 3;
            cp = s[i] & 0x0f;
        } else if ((s[i] & 0xf8) == 0xf0) {
            len = 4;
            cp = s[i] & 0x07;
        } else {
            return 0;
        }
        if (len > n - i)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

static int set_str(json_t *o, const char *key, const char *v, size_t len)
{
    if (!utf8_valid(v, len) || memchr(v, '\0', len))
        return JP_EINVAL;
    return json_object_set_new(o, key, json_stringn(v, len)) == 0 ? 0 : JP_ENOMEM;
}

struct dump_ctx {
    struct jp_buf *buf;
    int rc; /* sticky: jansson ignores failures while writing object keys */
};

static int dump_cb(const char *buffer, size_t size, void *data)
{
    struct dump_ctx *d = data;

    if (d->rc == 0)
        d->rc = jp_buf_add(d->buf, buffer, size);
    return d->rc < 0 ? -1 : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    ssize_t r;

    while (n) {
        r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return JP_EIO;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* fsync the directory holding path so the rename itself is durable. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd;

    if (!slash)
        dir = jp_memdup(".", 2);
    else if (slash == path)
        dir = jp_memdup("/", 2);
    else if ((dir = jp_memdup(path, (size_t)(slash - path) + 1)) != NULL)
        dir[slash - path] = '\0';
    if (!dir)
        return;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    jp_free(dir);
}

static int conn_to_json(const struct jp_conn *c, struct jp_buf *out)
{
    struct dump_ctx d;
    json_t *o = NULL;
    char portkey[32];
    int i, rc = JP_ENOMEM;

    if ((strcmp(c->transport, "tcp") != 0 && strcmp(c->transport, "ipc") != 0) ||
        !memchr(c->ip, '\0', sizeof c->ip) ||
        !memchr(c->kernel_name, '\0', sizeof c->kernel_name) ||
        !memchr(c->signature_scheme, '\0', sizeof c->signature_scheme) || (c->key_len && !c->key)) {
        rc = JP_EINVAL;
        goto out;
    }
    for (i = 0; i < JP_CH_COUNT; i++) {
        if (c->ports[i] < 0 || c->ports[i] > 65535) {
            rc = JP_EINVAL;
            goto out;
        }
    }
    o = json_object();
    if (!o)
        goto out;
    /* the order jupyter_client writes */
    for (i = 0; i < JP_CH_COUNT; i++) {
        snprintf(portkey, sizeof portkey, "%s_port", channel_names[i]);
        rc = set_int(o, portkey, c->ports[i]);
        if (rc < 0)
            goto out;
    }
    if ((rc = set_str(o, "ip", c->ip, strlen(c->ip))) < 0 ||
        (rc = set_str(o, "key", c->key ? c->key : "", c->key_len)) < 0 ||
        (rc = set_str(o, "transport", c->transport, strlen(c->transport))) < 0 ||
        (rc = set_str(
             o, "signature_scheme", c->signature_scheme[0] ? c->signature_scheme : DEFAULT_SCHEME,
             c->signature_scheme[0] ? strlen(c->signature_scheme) : strlen(DEFAULT_SCHEME))) < 0 ||
        (rc = set_str(o, "kernel_name", c->kernel_name, strlen(c->kernel_name))) < 0)
        goto out;
    d.buf = out;
    d.rc = 0;
    if (json_dump_callback(o, dump_cb, &d, JSON_INDENT(2)) != 0 || d.rc < 0 ||
        jp_buf_add(out, "\n", 1) < 0) {
        rc = JP_ENOMEM;
        goto out;
    }
    rc = 0;
out:
    if (o)
        wipe_json_string(json_object_get(o, "key"));
    json_decref(o);
    return rc;
}

int jp_conn_save(const struct jp_conn *c, const char *path)
{
    struct jp_buf text, tmppath;
    int fd = -1, created = 0, rc;

    jp_buf_init(&text, CONN_FILE_MAX);
    jp_buf_init(&tmppath, 4096 + 32);
    if (!c || !path) {
        rc = JP_EINVAL;
        goto out;
    }
    rc = conn_to_json(c, &text);
    if (rc < 0)
        goto out;
    /* same directory, so rename() is atomic; ".tmp." keeps it out of kernel-*.json globs */
    rc = jp_buf_addf(&tmppath, "%s.tmp.XXXXXX", path);
    if (rc < 0) {
        rc = rc == JP_ETOOBIG ? JP_EIO : rc;
        goto out;
    }
    fd = mkostemp(tmppath.data, O_CLOEXEC);
    if (fd < 0) {
        rc = JP_EIO;
        goto out;
    }
    created = 1;
    /* mkostemp creates 0600 already; say it explicitly rather than rely on that */
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 || write_all(fd, text.data, text.len) < 0 ||
        fsync(fd) != 0) {
        rc = JP_EIO;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = JP_EIO;
        goto out;
    }
    fd = -1;
    if (rename(tmppath.data, path) != 0) {
        rc = JP_EIO;
        goto out;
    }
    sync_dir(path);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && created)
        unlink(tmppath.data);
    if (text.data)
        OPENSSL_cleanse(text.data, text.cap);
    jp_buf_dispose(&text);
    jp_buf_dispose(&tmppath);
    return rc;
}

void jp_conn_dispose(struct jp_conn *c)
{
    if (!c || !c->key)
        return;
    OPENSSL_cleanse(c->key, c->key_len);
    jp_free(c->key);
    c->key = NULL;
    c->key_len = 0;
}

int jp_conn_endpoint(const struct jp_conn *c, enum jp_channel ch, char *out, size_t outlen)
{
    int n, rc;

    if (!c || (unsigned)ch >= JP_CH_COUNT || (!out && outlen)) {
        rc = JP_EINVAL;
        goto out;
    }
    if (strcmp(c->transport, "tcp") == 0)
        n = snprintf(out, outlen, "tcp://%s:%d", c->ip, c->ports[ch]);
    else if (strcmp(c->transport, "ipc") == 0)
        n = snprintf(out, outlen, "ipc://%s-%d", c->ip, c->ports[ch]);
    else
        n = -1;
    if (n < 0) {
        rc = JP_EINVAL;
        goto out;
    }
    rc = (size_t)n < outlen ? n : JP_ERANGE;
out:
    return rc;
}
