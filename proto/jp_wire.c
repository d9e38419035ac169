/*
 * jp_wire.c - the ZeroMQ wire format of Jupyter messages (messaging spec, "The Wire
 * Protocol"; jupyter_client session.py serialize/deserialize):
 *   [ident...] "<IDS|MSG>" signature header parent_header metadata content [buffer...]
 *
 * Decoding checks sizes first, then the delimiter and frame count, then the signature over
 * the four dict frames exactly as received, and only then parses JSON, so unauthenticated
 * input never reaches the parser when a key is set. Encoding writes compact UTF-8 JSON
 * (no ASCII escaping; jansson cannot hold NaN or Infinity, which the spec forbids) and signs
 * the bytes it produced. Neither direction touches a socket; buffers are passed through
 * unsigned. Called by the kernel's socket loop and the server's WebSocket bridge.
 */
#include "jp_wire.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jp_alloc.h"
#include "jp_buf.h"
#include "jp_err.h"

#define MIB ((size_t)1024 * 1024)
#define DELIM_LEN (sizeof JP_WIRE_DELIM - 1)

const struct jp_wire_limits jp_wire_default_limits = {4096, 128 * MIB, 512 * MIB};

static const char *const dict_names[4] = {"header", "parent_header", "metadata", "content"};

static void set_err(struct jp_wire_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(struct jp_wire_error *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

static int is_delim(const struct jp_frame *f)
{
    return f->len == DELIM_LEN && memcmp(f->data, JP_WIRE_DELIM, DELIM_LEN) == 0;
}

/* Heap copies of n frames; *dst is NULL when n == 0. */
static int frames_copy(const struct jp_frame *src, size_t n, struct jp_frame **dst)
{
    struct jp_frame *v = NULL;
    size_t i;
    int rc = 0;

    if (n) {
        v = jp_calloc(n, sizeof *v);
        if (!v) {
            rc = JP_ENOMEM;
            goto out;
        }
        for (i = 0; i < n; i++) {
            v[i].data = jp_memdup(src[i].data, src[i].len);
            if (!v[i].data) {
                rc = JP_ENOMEM;
                goto out;
            }
            v[i].len = src[i].len;
        }
    }
out:
    if (rc < 0) {
        jp_frames_free(v, n); /* calloc'ed: unfilled entries are NULL */
        v = NULL;
    }
    *dst = v;
    return rc;
}

static int parse_dict(const struct jp_frame *f, int which, json_t **out, struct jp_wire_error *err)
{
    json_error_t jerr;
    json_t *j;
    int rc = 0;

    /* jansson leaves the error untouched when an allocation fails, so zero it: an empty
     * text then means out of memory (every syntax error sets one) */
    memset(&jerr, 0, sizeof jerr);
    /* flags 0: reject "\u0000" in strings and anything but an object or array at the top */
    j = json_loadb(f->len ? (const char *)f->data : "", f->len, 0, &jerr);
    if (!j) {
        if (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0') {
            rc = JP_ENOMEM;
            set_err(err, "%s: out of memory", dict_names[which]);
        } else {
            rc = JP_EPARSE;
            set_err(err, "%s: invalid JSON at byte %d: %s", dict_names[which], jerr.position,
                    jerr.text);
        }
        goto out;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        rc = JP_EPROTO;
        set_err(err, "%s is not a JSON object", dict_names[which]);
        goto out;
    }
    *out = j;
out:
    return rc;
}

int jp_wire_split(const struct jp_frame *frames, size_t n, struct jp_signer *signer,
                  const struct jp_wire_limits *limits, struct jp_wire_view *v,
                  struct jp_wire_error *err)
{
    const struct jp_frame *sig;
    const void *parts[4];
    size_t lens[4];
    size_t i, d, total = 0;
    int rc = 0;

    if (err)
        err->text[0] = '\0';
    if (!v || !signer || (n && !frames)) {
        rc = JP_EINVAL;
        set_err(err, "invalid arguments");
        goto out;
    }
    if (!limits)
        limits = &jp_wire_default_limits;
    if (n > limits->max_frames) {
        rc = JP_ETOOBIG;
        set_err(err, "%zu frames, limit %zu", n, limits->max_frames);
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (frames[i].len && !frames[i].data) {
            rc = JP_EINVAL;
            set_err(err, "frame %zu has no data", i);
            goto out;
        }
        if (frames[i].len > limits->max_total_bytes - total) {
            rc = JP_ETOOBIG;
            set_err(err, "message larger than %zu bytes", limits->max_total_bytes);
            goto out;
        }
        total += frames[i].len;
    }
    for (d = 0; d < n && !is_delim(&frames[d]); d++)
        ;
    if (d == n) {
        rc = JP_EPROTO;
        set_err(err, "no " JP_WIRE_DELIM " delimiter");
        goto out;
    }
    if (n - d - 1 < 5) {
        rc = JP_EPROTO;
        set_err(err, "%zu frames after the delimiter, need at least 5", n - d - 1);
        goto out;
    }
    sig = &frames[d + 1];
    for (i = 0; i < 4; i++) {
        parts[i] = frames[d + 2 + i].data;
        lens[i] = frames[d + 2 + i].len;
        if (lens[i] > limits->max_dict_bytes) {
            rc = JP_ETOOBIG;
            set_err(err, "%s is %zu bytes, limit %zu", dict_names[i], lens[i],
                    limits->max_dict_bytes);
            goto out;
        }
    }
    /* authenticate the raw bytes before anyone parses them */
    rc = jp_signer_verify(signer, parts, lens, sig->len ? sig->data : "", sig->len);
    if (rc < 0) {
        set_err(err, "%s", jp_strerror(rc));
        goto out;
    }
    v->n_idents = d;
    for (i = 0; i < 4; i++)
        v->dicts[i] = frames[d + 2 + i];
    v->buffers = frames + d + 6;
    v->n_buffers = n - d - 6;
out:
    return rc;
}

int jp_wire_decode(const struct jp_frame *frames, size_t n, struct jp_signer *signer,
                   const struct jp_wire_limits *limits, struct jp_msg **out,
                   struct jp_wire_error *err)
{
    struct jp_wire_view v;
    json_t *dicts[4] = {NULL, NULL, NULL, NULL};
    struct jp_msg *m = NULL;
    size_t i;
    int rc;

    if (!out) {
        if (err)
            err->text[0] = '\0';
        set_err(err, "invalid arguments");
        return JP_EINVAL;
    }
    rc = jp_wire_split(frames, n, signer, limits, &v, err);
    if (rc < 0)
        goto out;
    for (i = 0; i < 4; i++) {
        rc = parse_dict(&v.dicts[i], (int)i, &dicts[i], err);
        if (rc < 0)
            goto out;
    }
    if (!json_is_string(json_object_get(dicts[0], "msg_type"))) {
        rc = JP_EPROTO;
        set_err(err, "header has no string msg_type");
        goto out;
    }
    m = jp_calloc(1, sizeof *m);
    if (!m) {
        rc = JP_ENOMEM;
        set_err(err, "out of memory");
        goto out;
    }
    m->header = dicts[0];
    m->parent_header = dicts[1];
    m->metadata = dicts[2];
    m->content = dicts[3];
    memset(dicts, 0, sizeof dicts);
    rc = frames_copy(frames, v.n_idents, &m->idents);
    if (rc < 0) {
        set_err(err, "out of memory");
        goto out;
    }
    m->n_idents = v.n_idents;
    rc = frames_copy(v.buffers, v.n_buffers, &m->buffers);
    if (rc < 0) {
        set_err(err, "out of memory");
        goto out;
    }
    m->n_buffers = v.n_buffers;
    *out = m;
out:
    if (rc < 0) {
        for (i = 0; i < 4; i++)
            json_decref(dicts[i]);
        jp_msg_free(m);
    }
    return rc;
}

struct dump_ctx {
    struct jp_buf buf;
    int rc; /* sticky: jansson ignores some callback failures (object keys), so once an
             * append fails every later one must fail too */
};

static int dump_cb(const char *buffer, size_t size, void *data)
{
    struct dump_ctx *d = data;

    if (d->rc == 0)
        d->rc = jp_buf_add(&d->buf, buffer, size);
    return d->rc < 0 ? -1 : 0;
}

/* Serialize one dict compactly into a new frame. */
static int dump_dict(const json_t *j, struct jp_frame *f)
{
    struct dump_ctx d;
    size_t len;
    int rc;

    jp_buf_init(&d.buf, SIZE_MAX);
    d.rc = 0;
    if (json_dump_callback(j, dump_cb, &d, JSON_COMPACT) != 0) {
        /* a callback failure, or jansson's own allocation for cycle detection */
        rc = d.rc < 0 ? d.rc : JP_ENOMEM;
        goto out;
    }
    if (d.rc < 0) {
        rc = d.rc;
        goto out;
    }
    len = d.buf.len;
    f->data = jp_buf_take(&d.buf);
    if (!f->data) {
        rc = JP_ENOMEM;
        goto out;
    }
    f->len = len;
    rc = 0;
out:
    jp_buf_dispose(&d.buf);
    return rc;
}

/* content_raw: when not NULL, the content frame (content_len bytes) instead of m->content:
 * copied, or, with take, a jp_malloc'ed block that becomes the frame's data as it is (freed here
 * on failure) */
static int encode(const struct jp_msg *m, const struct jp_signer *signer, const char *content_raw,
                  size_t content_len, int take, struct jp_frame **frames_out, size_t *n_out)
{
    const json_t *dicts[4];
    const void *parts[4];
    size_t lens[4];
    char sig[JP_SIG_HEX_LEN + 1];
    struct jp_frame *v = NULL, *f;
    size_t n = 0, i;
    int rc;

    if (!m || !signer || !frames_out || !n_out || (m->n_idents && !m->idents) ||
        (m->n_buffers && !m->buffers)) {
        rc = JP_EINVAL;
        goto out;
    }
    dicts[0] = m->header;
    dicts[1] = m->parent_header;
    dicts[2] = m->metadata;
    dicts[3] = m->content;
    for (i = 0; i < 4; i++) {
        if (!json_is_object(dicts[i]) && !(i == 3 && content_raw)) {
            rc = JP_EINVAL;
            goto out;
        }
    }
    if (m->n_idents > SIZE_MAX / sizeof *v - 6 ||
        m->n_buffers > SIZE_MAX / sizeof *v - 6 - m->n_idents) {
        rc = JP_ENOMEM;
        goto out;
    }
    n = m->n_idents + 6 + m->n_buffers;
    v = jp_calloc(n, sizeof *v);
    if (!v) {
        rc = JP_ENOMEM;
        goto out;
    }
    for (i = 0; i < m->n_idents; i++) {
        v[i].data = jp_memdup(m->idents[i].data, m->idents[i].len);
        if (!v[i].data) {
            rc = JP_ENOMEM;
            goto out;
        }
        v[i].len = m->idents[i].len;
    }
    f = v + m->n_idents;
    f[0].data = jp_memdup(JP_WIRE_DELIM, DELIM_LEN);
    if (!f[0].data) {
        rc = JP_ENOMEM;
        goto out;
    }
    f[0].len = DELIM_LEN;
    for (i = 0; i < 4; i++) {
        if (i == 3 && content_raw && take) {
            f[5].data = (char *)content_raw;
            f[5].len = content_len;
            content_raw = NULL; /* the frames own it now */
            rc = 0;
        } else if (i == 3 && content_raw) {
            f[5].data = jp_memdup(content_len ? content_raw : "", content_len);
            f[5].len = content_len;
            rc = f[5].data ? 0 : JP_ENOMEM;
        } else {
            rc = dump_dict(dicts[i], &f[2 + i]);
        }
        if (rc < 0)
            goto out;
        parts[i] = f[2 + i].data;
        lens[i] = f[2 + i].len;
    }
    rc = jp_signer_sign(signer, parts, lens, sig);
    if (rc < 0)
        goto out;
    f[1].len = strlen(sig);
    f[1].data = jp_memdup(sig, f[1].len);
    if (!f[1].data) {
        rc = JP_ENOMEM;
        goto out;
    }
    for (i = 0; i < m->n_buffers; i++) {
        f[6 + i].data = jp_memdup(m->buffers[i].data, m->buffers[i].len);
        if (!f[6 + i].data) {
            rc = JP_ENOMEM;
            goto out;
        }
        f[6 + i].len = m->buffers[i].len;
    }
    *frames_out = v;
    *n_out = n;
    rc = 0;
out:
    if (rc < 0)
        jp_frames_free(v, n);
    if (rc < 0 && take && content_raw)
        jp_free((char *)content_raw); /* failed before it was handed to the frames */
    return rc;
}

int jp_wire_encode(const struct jp_msg *m, const struct jp_signer *signer,
                   struct jp_frame **frames_out, size_t *n_out)
{
    return encode(m, signer, NULL, 0, 0, frames_out, n_out);
}

int jp_wire_encode_content(const struct jp_msg *m, const struct jp_signer *signer,
                           const char *content, size_t content_len, struct jp_frame **frames_out,
                           size_t *n_out)
{
    if (!content)
        return JP_EINVAL;
    return encode(m, signer, content, content_len, 0, frames_out, n_out);
}

int jp_wire_encode_content_take(const struct jp_msg *m, const struct jp_signer *signer,
                                char *content, size_t content_len, struct jp_frame **frames_out,
                                size_t *n_out)
{
    if (!content)
        return JP_EINVAL;
    return encode(m, signer, content, content_len, 1, frames_out, n_out);
}
