/*
 * k8s_yaml.c - one YAML document to a jansson value, built from libyaml's event stream (not
 * its document loader) so that plain and quoted scalars can be told apart and aliases can be
 * charged against a node budget before they are expanded. Used for kubeconfig files and the
 * kernel-pod profiles file; never for anything from the network.
 */
#include "k8s_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "jp_err.h"

#define MAX_DEPTH 256

struct anchor {
    char *name;
    json_t *value;
    size_t nodes; /* nodes in value, charged again on every alias */
};

struct frame {
    json_t *container; /* object or array */
    char *key;         /* pending mapping key, or NULL when a key is expected */
    char *anchor;      /* the container's own anchor, registered when it ends */
    size_t nodes_at_start;
};

struct builder {
    struct frame stack[MAX_DEPTH];
    int depth;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    size_t nodes;
    json_t *root;
    char *why;
    size_t whylen;
};

static void fail_at(struct builder *b, const yaml_mark_t *m, const char *msg)
{
    if (b->why && b->whylen)
        snprintf(b->why, b->whylen, "line %zu, column %zu: %s", (size_t)m->line + 1,
                 (size_t)m->column + 1, msg);
}

static int is_digits(const char *s, const char *set)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr(set, *s))
            return 0;
    return 1;
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static json_t *plain_scalar(const char *s)
{
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();

    const char *d = s;
    int base = 10;
    if (!strncmp(s, "0o", 2) && is_digits(s + 2, "01234567")) {
        d = s + 2;
        base = 8;
    } else if (!strncmp(s, "0x", 2) && is_digits(s + 2, "0123456789abcdefABCDEF")) {
        d = s + 2;
        base = 16;
    } else if (!is_digits(s + (*s == '-' || *s == '+'), "0123456789")) {
        d = NULL;
    }
    if (d) {
        char *end;
        errno = 0;
        long long v = strtoll(d, &end, base);
        if (!errno && !*end)
            return json_integer(v);
        return json_string(s); /* out of range: keep the text */
    }

    /* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    const char *q = s + (*s == '-' || *s == '+');
    size_t int_digits = strspn(q, "0123456789");
    q += int_digits;
    size_t frac_digits = 0;
    if (*q == '.') {
        q++;
        frac_digits = strspn(q, "0123456789");
        q += frac_digits;
    }
    if (int_digits + frac_digits == 0)
        return json_string(s);
    if (*q == 'e' || *q == 'E') {
        q++;
        q += (*q == '-' || *q == '+');
        size_t e = strspn(q, "0123456789");
        if (!e)
            return json_string(s);
        q += e;
    }
    if (*q)
        return json_string(s);
    double v = strtod(s, NULL);
    if (!isfinite(v))
        return json_string(s);
    return json_real(v);
}

static json_t *tagged_scalar(struct builder *b, const yaml_event_t *ev, const char *tag,
                             const char *s)
{
    json_t *v;

    if (!strcmp(tag, YAML_STR_TAG))
        return json_string(s);
    if (!strcmp(tag, YAML_NULL_TAG) || !strcmp(tag, YAML_BOOL_TAG) || !strcmp(tag, YAML_INT_TAG) ||
        !strcmp(tag, YAML_FLOAT_TAG)) {
        v = plain_scalar(s);
        int ok = (!strcmp(tag, YAML_NULL_TAG) && json_is_null(v)) ||
                 (!strcmp(tag, YAML_BOOL_TAG) && json_is_boolean(v)) ||
                 (!strcmp(tag, YAML_INT_TAG) && json_is_integer(v)) ||
                 (!strcmp(tag, YAML_FLOAT_TAG) && json_is_number(v));
        if (ok && !strcmp(tag, YAML_FLOAT_TAG) && json_is_integer(v)) {
            json_t *r = json_real((double)json_integer_value(v));
            json_decref(v);
            return r;
        }
        if (ok)
            return v;
        json_decref(v);
        fail_at(b, &ev->start_mark, "scalar does not match its tag");
        return NULL;
    }
    /* unknown (application) tags: keep the text */
    return json_string(s);
}

static json_t *scalar_value(struct builder *b, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;

    if (strlen(s) != ev->data.scalar.length) {
        fail_at(b, &ev->start_mark, "NUL character in scalar");
        return NULL;
    }
    if (tag && strcmp(tag, "!"))
        return tagged_scalar(b, ev, tag, s);
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
        return plain_scalar(s);
    return json_string(s);
}

static int add_anchor(struct builder *b, char *name, json_t *value, size_t nodes)
{
    /* a redefined anchor shadows the earlier one: search from the end */
    if (b->n_anchors == b->cap_anchors) {
        size_t cap = b->cap_anchors ? 2 * b->cap_anchors : 8;
        struct anchor *a = realloc(b->anchors, cap * sizeof *a);
        if (!a)
            return JP_ENOMEM;
        b->anchors = a;
        b->cap_anchors = cap;
    }
    b->anchors[b->n_anchors].name = name;
    b->anchors[b->n_anchors].value = json_incref(value);
    b->anchors[b->n_anchors].nodes = nodes;
    b->n_anchors++;
    return 0;
}

static const struct anchor *find_anchor(const struct builder *b, const char *name)
{
    for (size_t i = b->n_anchors; i-- > 0;)
        if (!strcmp(b->anchors[i].name, name))
            return &b->anchors[i];
    return NULL;
}

/* Attach a finished value to the current container (or make it the root). Steals v. */
static int attach(struct builder *b, const yaml_mark_t *m, json_t *v)
{
    if (!v) {
        if (b->why && b->whylen && !b->why[0])
            fail_at(b, m, "out of memory");
        return JP_ENOMEM;
    }
    if (b->depth == 0) {
        b->root = v;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    int rc;
    if (json_is_array(f->container)) {
        rc = json_array_append_new(f->container, v);
    } else {
        rc = json_object_set_new(f->container, f->key, v);
        free(f->key);
        f->key = NULL;
    }
    if (rc) {
        fail_at(b, m, "out of memory");
        return JP_ENOMEM;
    }
    return 0;
}

static int expecting_key(const struct builder *b)
{
    if (b->depth == 0)
        return 0;
    const struct frame *f = &b->stack[b->depth - 1];
    return json_is_object(f->container) && !f->key;
}

static int charge(struct builder *b, const yaml_mark_t *m, size_t n)
{
    if (n > K8S_YAML_MAX_NODES || b->nodes + n > K8S_YAML_MAX_NODES) {
        fail_at(b, m, "document too large (alias expansion limit)");
        return JP_ETOOBIG;
    }
    b->nodes += n;
    return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    int rc;

    if (expecting_key(b)) {
        char *key = strdup((const char *)ev->data.scalar.value);
        if (!key)
            return JP_ENOMEM;
        b->stack[b->depth - 1].key = key;
        if (ev->data.scalar.anchor) {
            /* an anchored key may be aliased later as a value */
            json_t *s = json_string(key);
            char *name = strdup((const char *)ev->data.scalar.anchor);
            rc = (!s || !name) ? JP_ENOMEM : add_anchor(b, name, s, 1);
            json_decref(s);
            if (rc) {
                free(name);
                return rc;
            }
        }
        return 0;
    }
    if ((rc = charge(b, &ev->start_mark, 1)))
        return rc;
    json_t *v = scalar_value(b, ev);
    if (!v)
        return b->why && b->why[0] ? JP_EPARSE : JP_ENOMEM;
    if (ev->data.scalar.anchor) {
        char *name = strdup((const char *)ev->data.scalar.anchor);
        if (!name || (rc = add_anchor(b, name, v, 1))) {
            free(name);
            json_decref(v);
            return JP_ENOMEM;
        }
    }
    return attach(b, &ev->start_mark, v);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const struct anchor *a = find_anchor(b, (const char *)ev->data.alias.anchor);
    int rc;

    if (!a) {
        fail_at(b, &ev->start_mark, "alias to an unknown anchor");
        return JP_EPARSE;
    }
    if (expecting_key(b)) {
        if (!json_is_string(a->value)) {
            fail_at(b, &ev->start_mark, "mapping keys must be scalars");
            return JP_EPARSE;
        }
        char *key = strdup(json_string_value(a->value));
        if (!key)
            return JP_ENOMEM;
        b->stack[b->depth - 1].key = key;
        return 0;
    }
    if ((rc = charge(b, &ev->start_mark, a->nodes)))
        return rc;
    return attach(b, &ev->start_mark, json_deep_copy(a->value));
}

static int on_start(struct builder *b, const yaml_event_t *ev, int is_map)
{
    const yaml_char_t *anchor =
        is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    int rc;

    if (expecting_key(b)) {
        fail_at(b, &ev->start_mark, "mapping keys must be scalars");
        return JP_EPARSE;
    }
    if (b->depth == MAX_DEPTH) {
        fail_at(b, &ev->start_mark, "nesting too deep");
        return JP_ETOOBIG;
    }
    if ((rc = charge(b, &ev->start_mark, 1)))
        return rc;
    struct frame *f = &b->stack[b->depth];
    memset(f, 0, sizeof *f);
    f->container = is_map ? json_object() : json_array();
    f->nodes_at_start = b->nodes - 1;
    if (anchor)
        f->anchor = strdup((const char *)anchor);
    if (!f->container || (anchor && !f->anchor)) {
        json_decref(f->container);
        free(f->anchor);
        return JP_ENOMEM;
    }
    b->depth++;
    return 0;
}

static int on_end(struct builder *b, const yaml_event_t *ev)
{
    struct frame *f = &b->stack[--b->depth];
    json_t *v = f->container;
    int rc = 0;

    free(f->key);
    if (f->anchor) {
        rc = add_anchor(b, f->anchor, v, b->nodes - f->nodes_at_start);
        if (rc)
            free(f->anchor);
    }
    if (rc) {
        json_decref(v);
        return rc;
    }
    return attach(b, &ev->start_mark, v);
}

static void builder_dispose(struct builder *b)
{
    while (b->depth > 0) {
        struct frame *f = &b->stack[--b->depth];
        json_decref(f->container);
        free(f->key);
        free(f->anchor);
    }
    for (size_t i = 0; i < b->n_anchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].value);
    }
    free(b->anchors);
}

json_t *k8s_yaml_parse(const char *text, size_t len, char *why, size_t whylen)
{
    yaml_parser_t parser;
    struct builder b;
    int rc = 0, docs = 0, done = 0;

    if (why && whylen)
        why[0] = '\0';
    if (!text) {
        if (why && whylen)
            snprintf(why, whylen, "no input");
        return NULL;
    }
    memset(&b, 0, sizeof b);
    b.why = why;
    b.whylen = whylen;
    if (!yaml_parser_initialize(&parser)) {
        if (why && whylen)
            snprintf(why, whylen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    while (!done && !rc) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (why && whylen) {
                const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
                snprintf(why, whylen, "line %zu, column %zu: %s%s%s", (size_t)m->line + 1,
                         (size_t)m->column + 1, parser.problem ? parser.problem : "syntax error",
                         parser.context ? " " : "", parser.context ? parser.context : "");
            }
            rc = JP_EPARSE;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                fail_at(&b, &ev.start_mark, "more than one document");
                rc = JP_EPARSE;
            }
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(&b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(&b, &ev, 0);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(&b, &ev, 1);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = on_end(&b, &ev);
            break;
        default:
            break;
        }
        if (rc == JP_ENOMEM && why && whylen && !why[0])
            snprintf(why, whylen, "out of memory");
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (!rc && !b.root) {
        if (why && whylen)
            snprintf(why, whylen, "empty document");
        rc = JP_EPARSE;
    }
    if (rc) {
        json_decref(b.root);
        b.root = NULL;
    }
    builder_dispose(&b);
    return b.root;
}

json_t *k8s_yaml_load_file(const char *path, char *why, size_t whylen)
{
    char inner[512];
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    json_t *v = NULL;
    FILE *f;

    if (why && whylen)
        why[0] = '\0';
    f = fopen(path, "rb");
    if (!f) {
        if (why && whylen)
            snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        if (why && whylen)
            snprintf(why, whylen, "%s: not a regular file", path);
        goto out;
    }
    buf = malloc(K8S_YAML_MAX_FILE + 1);
    if (!buf) {
        if (why && whylen)
            snprintf(why, whylen, "%s: out of memory", path);
        goto out;
    }
    n = fread(buf, 1, K8S_YAML_MAX_FILE + 1, f);
    if (ferror(f)) {
        if (why && whylen)
            snprintf(why, whylen, "%s: read error", path);
        goto out;
    }
    if (n > K8S_YAML_MAX_FILE) {
        if (why && whylen)
            snprintf(why, whylen, "%s: larger than %zu bytes", path, K8S_YAML_MAX_FILE);
        goto out;
    }
    v = k8s_yaml_parse(buf, n, inner, sizeof inner);
    if (!v && why && whylen)
        snprintf(why, whylen, "%s: %s", path, inner);
out:
    free(buf);
    fclose(f);
    return v;
}
