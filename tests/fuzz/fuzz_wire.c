/*
 * fuzz_wire.c - libFuzzer target for jp_wire_decode (and, on success, jp_wire_encode).
 *
 * The input is a sequence of frames, each a 2-byte big-endian length followed by that many
 * bytes (a short final frame takes what is left; at most 64 frames). The frames are decoded
 * three ways: with a fixed key (as a kernel would; only the seed corpus carries a valid
 * signature, so this mostly exercises the checks before the signature), with an empty key
 * (no signature check, so the JSON parser and the dict checks see every mutation), and with
 * an empty key and tight limits. Every successful decode is re-encoded and decoded again;
 * the second message must equal the first, and encoding it again must give the same bytes.
 * Replay history is off so a run does not depend on earlier inputs.
 * tests/fuzz/mkseeds_fuzz_wire.py writes the seed corpus in this format.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jp_err.h"
#include "jp_hmac.h"
#include "jp_msg.h"
#include "jp_wire.h"

#define FUZZ_KEY "fuzz-key-0123456789"
#define MAX_FRAMES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jp_signer *keyed, *unkeyed;

static void check(int cond)
{
    if (!cond)
        abort();
}

static int frames_equal(const struct jp_frame *a, size_t na, const struct jp_frame *b, size_t nb)
{
    size_t i;

    if (na != nb)
        return 0;
    for (i = 0; i < na; i++) {
        if (a[i].len != b[i].len || memcmp(a[i].data, b[i].data, a[i].len) != 0)
            return 0;
    }
    return 1;
}

static void check_same_msg(const struct jp_msg *a, const struct jp_msg *b)
{
    check(json_equal(a->header, b->header));
    check(json_equal(a->parent_header, b->parent_header));
    check(json_equal(a->metadata, b->metadata));
    check(json_equal(a->content, b->content));
    check(frames_equal(a->idents, a->n_idents, b->idents, b->n_idents));
    check(frames_equal(a->buffers, a->n_buffers, b->buffers, b->n_buffers));
}

static void round_trip(const struct jp_msg *m, struct jp_signer *s)
{
    struct jp_frame *f = NULL, *f2 = NULL;
    struct jp_msg *m2 = NULL;
    size_t n = 0, n2 = 0;
    int rc;

    rc = jp_wire_encode(m, s, &f, &n);
    check(rc == 0 || rc == JP_ENOMEM);
    if (rc < 0)
        return;
    rc = jp_wire_decode(f, n, s, NULL, &m2, NULL);
    check(rc == 0);
    check_same_msg(m, m2);
    check(jp_wire_encode(m2, s, &f2, &n2) == 0);
    check(frames_equal(f, n, f2, n2));
    jp_frames_free(f, n);
    jp_frames_free(f2, n2);
    jp_msg_free(m2);
}

static void decode_one(const struct jp_frame *frames, size_t n, struct jp_signer *s,
                       const struct jp_wire_limits *lim)
{
    struct jp_wire_error err;
    struct jp_msg *m = NULL;
    int rc;

    rc = jp_wire_decode(frames, n, s, lim, &m, &err);
    if (rc < 0) {
        check(m == NULL);
        check(memchr(err.text, '\0', sizeof err.text) != NULL && err.text[0] != '\0');
        check(rc == JP_EPROTO || rc == JP_EPARSE || rc == JP_ETOOBIG || rc == JP_EUNSIGNED ||
              rc == JP_ESIG || rc == JP_ENOMEM);
        return;
    }
    check(json_is_object(m->header) && json_is_object(m->parent_header) &&
          json_is_object(m->metadata) && json_is_object(m->content));
    check(json_is_string(json_object_get(m->header, "msg_type")));
    round_trip(m, s);
    jp_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct jp_wire_limits tight = {12, 512, 2048};
    struct jp_frame frames[MAX_FRAMES];
    size_t n = 0, pos = 0, len;

    if (!keyed) {
        keyed = jp_signer_new(FUZZ_KEY, strlen(FUZZ_KEY), 0);
        unkeyed = jp_signer_new(NULL, 0, 0);
        check(keyed && unkeyed);
    }
    while (pos + 2 <= size && n < MAX_FRAMES) {
        len = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        frames[n].data = (void *)(uintptr_t)(data + pos);
        frames[n].len = len;
        n++;
        pos += len;
    }
    decode_one(frames, n, keyed, NULL);
    decode_one(frames, n, unkeyed, NULL);
    decode_one(frames, n, unkeyed, &tight);
    return 0;
}
