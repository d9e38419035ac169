/*
 * k8s_watch.c - the watch-stream line parser. Bytes are split at '\n'; a complete line is
 * parsed straight from the caller's chunk when possible, otherwise from a buffer that grows
 * geometrically up to max_line. A line that would exceed max_line is abandoned at once and the
 * rest of it skipped until its newline, so memory stays bounded whatever the peer sends.
 */
#include "k8s_watch.h"

#include <stdlib.h>
#include <string.h>

#include "jp_err.h"

#define DEFAULT_MAX_LINE ((size_t)16 << 20)

struct k8s_watch_parser {
    size_t max_line;
    k8s_watch_event_fn on_event;
    void *ctx;
    char *buf;
    size_t len, cap;
    int skipping; /* inside an oversized line: drop bytes until '\n' */
    int gone;
    char *rv;
    size_t events, malformed, oversized;
};

struct k8s_watch_parser *k8s_watch_new(size_t max_line, k8s_watch_event_fn on_event, void *ctx)
{
    struct k8s_watch_parser *p;

    if (!on_event)
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_line = max_line ? max_line : DEFAULT_MAX_LINE;
    p->on_event = on_event;
    p->ctx = ctx;
    return p;
}

void k8s_watch_free(struct k8s_watch_parser *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->rv);
    free(p);
}

void k8s_watch_reset(struct k8s_watch_parser *p)
{
    p->len = 0;
    p->skipping = 0;
    p->gone = 0;
}

int k8s_watch_set_rv(struct k8s_watch_parser *p, const char *rv)
{
    char *copy = NULL;

    if (rv && !(copy = strdup(rv)))
        return JP_ENOMEM;
    free(p->rv);
    p->rv = copy;
    return 0;
}

const char *k8s_watch_last_rv(const struct k8s_watch_parser *p)
{
    return p->rv;
}

int k8s_watch_gone(const struct k8s_watch_parser *p)
{
    return p->gone;
}

size_t k8s_watch_events(const struct k8s_watch_parser *p)
{
    return p->events;
}

size_t k8s_watch_malformed(const struct k8s_watch_parser *p)
{
    return p->malformed;
}

size_t k8s_watch_oversized(const struct k8s_watch_parser *p)
{
    return p->oversized;
}

/* One complete line (without its '\n'). Returns 1 if an event was delivered, 0 if not, or
 * JP_ENOMEM. */
static int handle_line(struct k8s_watch_parser *p, const char *s, size_t n)
{
    json_error_t err;
    json_t *ev, *type, *obj;

    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r')) {
        s++;
        n--;
    }
    if (n == 0)
        return 0;
    ev = json_loadb(s, n, JSON_REJECT_DUPLICATES, &err);
    if (!ev) {
        /* jansson reports allocation failures as parse errors too; count them as malformed */
        p->malformed++;
        return 0;
    }
    type = json_object_get(ev, "type");
    obj = json_object_get(ev, "object");
    if (!json_is_string(type) || !json_is_object(obj)) {
        p->malformed++;
        json_decref(ev);
        return 0;
    }
    const char *t = json_string_value(type);
    if (!strcmp(t, "ERROR")) {
        json_t *code = json_object_get(obj, "code");
        if (json_is_integer(code) && json_integer_value(code) == 410)
            p->gone = 1;
    } else {
        json_t *rv = json_object_get(json_object_get(obj, "metadata"), "resourceVersion");
        if (json_is_string(rv) && json_string_length(rv) > 0 &&
            k8s_watch_set_rv(p, json_string_value(rv))) {
            json_decref(ev);
            return JP_ENOMEM;
        }
    }
    p->events++;
    p->on_event(p->ctx, t, obj);
    json_decref(ev);
    return 1;
}

static int append(struct k8s_watch_parser *p, const char *s, size_t n)
{
    if (p->len + n > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n)
            cap *= 2;
        if (cap > p->max_line)
            cap = p->max_line;
        char *b = realloc(p->buf, cap);
        if (!b)
            return JP_ENOMEM;
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    return 0;
}

int k8s_watch_feed(struct k8s_watch_parser *p, const char *data, size_t len)
{
    int delivered = 0, rc;

    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl ? (size_t)(nl - data) : len;
        size_t used = nl ? seg + 1 : seg;

        if (p->skipping) {
            if (nl)
                p->skipping = 0;
        } else if (p->len + seg > p->max_line) {
            p->oversized++;
            p->len = 0;
            p->skipping = !nl;
        } else if (nl && p->len == 0) {
            rc = handle_line(p, data, seg);
            if (rc < 0)
                return rc;
            delivered += rc;
        } else {
            if ((rc = append(p, data, seg)) < 0) {
                p->len = 0;
                p->skipping = !nl;
                return rc;
            }
            if (nl) {
                rc = handle_line(p, p->buf, p->len);
                p->len = 0;
                if (rc < 0)
                    return rc;
                delivered += rc;
            }
        }
        data += used;
        len -= used;
    }
    /* do not sit on a huge buffer between events */
    if (p->len == 0 && p->cap > 65536) {
        free(p->buf);
        p->buf = NULL;
        p->cap = 0;
    }
    return delivered;
}

int k8s_watch_end(struct k8s_watch_parser *p)
{
    int rc = 0;

    if (!p->skipping && p->len > 0)
        rc = handle_line(p, p->buf, p->len);
    p->len = 0;
    p->skipping = 0;
    return rc;
}
