/*
 * jp_msg.c - building Jupyter messages (messaging spec 5.3, "General Message Format" and
 * "Message Header").
 *
 * Creates headers {msg_id, msg_type, username, session, date, version} the way
 * jupyter_client does (msg_id "<session>_<pid>_<counter>", date in UTC with microseconds),
 * replies that copy the request's identities and carry its header as parent_header, and
 * owns identities and binary buffers as heap copies. Does not serialize, sign or validate
 * content against the message catalogue; jp_wire.c does the wire format. Called by the kernel
 * protocol loop, the server's WebSocket bridge and jp_wire.c (jp_msg_free, jp_frames_free).
 */
#include "jp_msg.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "jp_alloc.h"
#include "jp_err.h"
#include "jp_time.h"
#include "jp_uuid.h"

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 if it is not one.
 * Rejects overlong forms, surrogates and code points above U+10FFFF, as jansson does. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Copy src into dst (size bytes) as valid UTF-8: invalid bytes become '?', and truncation
 * never splits a character, so jansson will accept the result as a JSON string. */
static void copy_utf8(char *dst, size_t size, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t n = strlen(src), o = 0, k;

    while (n) {
        k = utf8_seq_len(s, n);
        if (k == 0) {
            if (o + 1 >= size)
                break;
            dst[o++] = '?';
            s++;
            n--;
            continue;
        }
        if (o + k >= size)
            break;
        memcpy(dst + o, s, k);
        o += k;
        s += k;
        n -= k;
    }
    dst[o] = '\0';
}

int jp_session_init(struct jp_session *ss, const char *username)
{
    char id[JP_UUID_LEN];
    int rc;

    rc = jp_uuid_v4(id);
    if (rc < 0)
        goto out;
    memcpy(ss->session, id, sizeof id);
    copy_utf8(ss->username, sizeof ss->username, username ? username : "");
    ss->counter = 0;
out:
    return rc;
}

static int set_str(json_t *obj, const char *key, const char *val)
{
    /* json_object_set_new steals the value even on failure, and fails on a NULL value */
    return json_object_set_new(obj, key, json_string(val)) == 0 ? 0 : JP_ENOMEM;
}

static json_t *header_new(struct jp_session *ss, const char *msg_type)
{
    char msg_id[sizeof ss->session + 48], date[JP_TIME_LEN];
    unsigned long long n;
    json_t *h = NULL;
    int rc = JP_ENOMEM;

    /* atomic, so the shell and control threads may share one session */
    n = __atomic_add_fetch(&ss->counter, 1, __ATOMIC_RELAXED);
    snprintf(msg_id, sizeof msg_id, "%s_%ld_%llu", ss->session, (long)getpid(), n);
    if (jp_time_format(jp_time_now_us(), date, sizeof date) < 0) {
        rc = JP_EINVAL;
        goto out;
    }
    h = json_object();
    if (!h)
        goto out;
    if (set_str(h, "msg_id", msg_id) < 0 || set_str(h, "msg_type", msg_type) < 0 ||
        set_str(h, "username", ss->username) < 0 || set_str(h, "session", ss->session) < 0 ||
        set_str(h, "date", date) < 0 || set_str(h, "version", JP_PROTOCOL_VERSION) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        json_decref(h);
        h = NULL;
    }
    return h;
}

struct jp_msg *jp_msg_new(struct jp_session *ss, const char *msg_type, const json_t *parent,
                          json_t *content)
{
    struct jp_msg *m = NULL;
    int rc = JP_ENOMEM;

    if (!ss || !msg_type || (parent && !json_is_object(parent)) ||
        (content && !json_is_object(content))) {
        rc = JP_EINVAL;
        goto out;
    }
    m = jp_calloc(1, sizeof *m);
    if (!m)
        goto out;
    m->content = content ? content : json_object();
    content = NULL; /* m owns it now, whatever happens next */
    m->header = header_new(ss, msg_type);
    m->parent_header = parent ? json_deep_copy(parent) : json_object();
    m->metadata = json_object();
    if (!m->content || !m->header || !m->parent_header || !m->metadata)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        json_decref(content);
        jp_msg_free(m);
        m = NULL;
    }
    return m;
}

struct jp_msg *jp_msg_reply(struct jp_session *ss, const struct jp_msg *req, const char *msg_type,
                            json_t *content)
{
    struct jp_msg *m = NULL;
    int rc = JP_ENOMEM;

    if (!req) {
        json_decref(content);
        rc = JP_EINVAL;
        goto out;
    }
    m = jp_msg_new(ss, msg_type, req->header, content);
    if (!m)
        goto out;
    rc = jp_msg_set_idents(m, req->idents, req->n_idents);
out:
    if (rc < 0) {
        jp_msg_free(m);
        m = NULL;
    }
    return m;
}

void jp_msg_free(struct jp_msg *m)
{
    if (!m)
        return;
    jp_frames_free(m->idents, m->n_idents);
    json_decref(m->header);
    json_decref(m->parent_header);
    json_decref(m->metadata);
    json_decref(m->content);
    jp_frames_free(m->buffers, m->n_buffers);
    jp_free(m);
}

static const char *header_str(const struct jp_msg *m, const char *key)
{
    const char *v = m ? json_string_value(json_object_get(m->header, key)) : NULL;

    return v ? v : "";
}

const char *jp_msg_type(const struct jp_msg *m)
{
    return header_str(m, "msg_type");
}

const char *jp_msg_id(const struct jp_msg *m)
{
    return header_str(m, "msg_id");
}

int jp_msg_set_idents(struct jp_msg *m, const struct jp_frame *idents, size_t n)
{
    struct jp_frame *v = NULL;
    size_t i;
    int rc = 0;

    if (n) {
        if (!idents) {
            rc = JP_EINVAL;
            goto out;
        }
        v = jp_calloc(n, sizeof *v);
        if (!v) {
            rc = JP_ENOMEM;
            goto out;
        }
        for (i = 0; i < n; i++) {
            v[i].data = jp_memdup(idents[i].data, idents[i].len);
            if (!v[i].data) {
                jp_frames_free(v, i);
                v = NULL;
                rc = JP_ENOMEM;
                goto out;
            }
            v[i].len = idents[i].len;
        }
    }
    /* copied first, so idents may be m's own array */
    jp_frames_free(m->idents, m->n_idents);
    m->idents = v;
    m->n_idents = n;
out:
    return rc;
}

int jp_msg_add_buffer(struct jp_msg *m, const void *data, size_t len)
{
    struct jp_frame *v;
    void *copy = NULL;
    int rc = JP_ENOMEM;

    if (len && !data) {
        rc = JP_EINVAL;
        goto out;
    }
    if (m->n_buffers >= SIZE_MAX / sizeof *v - 1)
        goto out;
    copy = jp_memdup(data, len);
    if (!copy)
        goto out;
    v = jp_realloc(m->buffers, (m->n_buffers + 1) * sizeof *v);
    if (!v)
        goto out;
    v[m->n_buffers].data = copy;
    v[m->n_buffers].len = len;
    copy = NULL;
    m->buffers = v;
    m->n_buffers++;
    rc = 0;
out:
    jp_free(copy);
    return rc;
}

void jp_frames_free(struct jp_frame *v, size_t n)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        jp_free(v[i].data);
    jp_free(v);
}
