/*
 * jp_wire.h - ZeroMQ multipart <-> jp_msg (messaging spec, "The Wire Protocol"):
 *   [ident...] "<IDS|MSG>" signature header parent_header metadata content [buffer...]
 * Decoding checks the delimiter, the frame count, the signature (via jp_signer), that the
 * four dicts are JSON objects, and caps every size. Encoding serializes compactly, UTF-8
 * without ASCII escaping, and signs. A codec only: it never touches a socket.
 */
#ifndef JP_WIRE_H
#define JP_WIRE_H

#include <stddef.h>

#include "jp_hmac.h"
#include "jp_msg.h"

#define JP_WIRE_DELIM "<IDS|MSG>"

struct jp_wire_limits {
    size_t max_frames;      /* identities + 6 + buffers; e.g. 1024 */
    size_t max_dict_bytes;  /* per JSON frame; e.g. 64 MiB */
    size_t max_total_bytes; /* whole message; e.g. 256 MiB */
};

/* Defaults used when a NULL limits pointer is passed: 4096 frames, 128 MiB per dict,
 * 512 MiB per message. */
extern const struct jp_wire_limits jp_wire_default_limits;

/* Optional detail about a failed decode: a short static or copied human-readable reason. */
struct jp_wire_error {
    char text[160];
};

/* Decode n frames. The frames are borrowed; the resulting message owns copies. On success
 * *out is a new message (free with jp_msg_free) and 0 is returned. Errors: JP_EPROTO (no
 * delimiter, too few frames, a dict that is not a JSON object, header without msg_type),
 * JP_EPARSE (invalid JSON), JP_ETOOBIG (over a limit), JP_EUNSIGNED / JP_ESIG / JP_EREPLAY /
 * JP_ECRYPTO from the signer, JP_ENOMEM, JP_EINVAL (out or signer NULL, a frame with len > 0
 * and no data). The signer is required: for unsigned traffic pass one with an empty key.
 * The signature is checked (and recorded for replay) before any JSON is parsed. Under memory
 * pressure jansson may report a failed allocation as JP_EPARSE. On failure *out is untouched
 * and err (if not NULL) says why. */
int jp_wire_decode(const struct jp_frame *frames, size_t n, struct jp_signer *signer,
                   const struct jp_wire_limits *limits, struct jp_msg **out,
                   struct jp_wire_error *err);

/* The parts of a verified message, unparsed: pointers into the caller's frames. */
struct jp_wire_view {
    size_t n_idents;          /* frames[0..n_idents) are the identities */
    struct jp_frame dicts[4]; /* header, parent_header, metadata, content: raw JSON bytes */
    const struct jp_frame *buffers;
    size_t n_buffers;
};

/* Find the delimiter, check the sizes and the signature, and point v at the parts without
 * parsing any JSON (for relays that forward the bytes as they are). Same errors as
 * jp_wire_decode except JP_EPARSE and the JSON checks (JP_EPROTO only for the frame layout). */
int jp_wire_split(const struct jp_frame *frames, size_t n, struct jp_signer *signer,
                  const struct jp_wire_limits *limits, struct jp_wire_view *v,
                  struct jp_wire_error *err);

/* Encode m (borrowed) into a new array of frames: identities, delimiter, signature, the four
 * dicts, buffers. *frames_out and *n_out are set on success (free with jp_frames_free).
 * 0, JP_ENOMEM, JP_EINVAL (a dict is missing or not an object, or signer is NULL),
 * JP_ECRYPTO. */
int jp_wire_encode(const struct jp_msg *m, const struct jp_signer *signer,
                   struct jp_frame **frames_out, size_t *n_out);
/* The same with the content given as JSON bytes (copied as they are, not checked), for
 * senders that write big contents without building a jansson tree; m->content is ignored
 * (may be NULL). */
int jp_wire_encode_content(const struct jp_msg *m, const struct jp_signer *signer,
                           const char *content, size_t content_len, struct jp_frame **frames_out,
                           size_t *n_out);
/* The same without the copy: content is a jp_malloc'ed block (a jp_buf_take string, say) that
 * becomes the content frame's data; it is the frames' from then on, and freed here on failure.
 * For the kernel's stream output, where the content is the bulk of the message. */
int jp_wire_encode_content_take(const struct jp_msg *m, const struct jp_signer *signer,
                                char *content, size_t content_len, struct jp_frame **frames_out,
                                size_t *n_out);

#endif
