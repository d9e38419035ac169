/*
 * jp_msg.h - the Jupyter message model (messaging spec 5.3, "General Message Format"):
 * routing identities, header, parent_header, metadata, content and binary buffers.
 * Building headers for new messages (msg_id, date, session, version) and replies that
 * carry their request's identities and header as parent. Encoding to and from wire
 * frames is jp_wire.h; this file never touches a socket.
 */
#ifndef JP_MSG_H
#define JP_MSG_H

#include <stddef.h>

#include <jansson.h>

#define JP_PROTOCOL_VERSION "5.3"

/* One frame of a multipart message: an owned heap copy of the bytes. */
struct jp_frame {
    void *data;
    size_t len;
};

struct jp_msg {
    struct jp_frame *idents; /* routing identities (ROUTER prefix or IOPub topic), owned */
    size_t n_idents;
    json_t *header;           /* owned; object */
    json_t *parent_header;    /* owned; object, {} when none */
    json_t *metadata;         /* owned; object */
    json_t *content;          /* owned; object */
    struct jp_frame *buffers; /* owned */
    size_t n_buffers;
};

/* Who sends: the session id and username written in every header this side creates. */
struct jp_session {
    char session[40];           /* uuid */
    char username[64];          /* e.g. "cnote" or the server user */
    unsigned long long counter; /* for msg_id uniqueness, "<session>_<pid>_<counter>";
                                 * incremented atomically, so threads may share a session */
};

/* Fill a session with a new random session id and the given username (NULL gives ""; truncated
 * to fit at a character boundary, bytes that are not UTF-8 replaced by '?', so headers can
 * always be built). 0 or JP_EIO. */
int jp_session_init(struct jp_session *ss, const char *username);

/* A new message of `msg_type` with a fresh header from `ss`, parent_header a deep copy of
 * `parent` (borrowed; NULL gives {}), empty metadata and the given content (stolen; NULL
 * gives {}). No identities, no buffers. NULL on out-of-memory, and also when ss or msg_type
 * is NULL, msg_type is not UTF-8, or parent/content is not an object (content is released
 * in every case). */
struct jp_msg *jp_msg_new(struct jp_session *ss, const char *msg_type, const json_t *parent,
                          json_t *content);

/* A reply to `req`: like jp_msg_new with parent = req->header, plus a copy of req's identities
 * so it routes back to the sender. NULL on out-of-memory (content still released). */
struct jp_msg *jp_msg_reply(struct jp_session *ss, const struct jp_msg *req, const char *msg_type,
                            json_t *content);

/* Free everything the message owns. NULL-safe. */
void jp_msg_free(struct jp_msg *m);

/* Borrowed header.msg_type, or "" if missing / not a string. */
const char *jp_msg_type(const struct jp_msg *m);
/* Borrowed header.msg_id, or "". */
const char *jp_msg_id(const struct jp_msg *m);

/* Replace the message's identities with copies of n frames (idents may be m->idents).
 * 0, JP_ENOMEM or JP_EINVAL (idents NULL with n > 0); unchanged on failure. */
int jp_msg_set_idents(struct jp_msg *m, const struct jp_frame *idents, size_t n);
/* Append a copy of a binary buffer. 0, JP_ENOMEM or JP_EINVAL (data NULL with len > 0);
 * unchanged on failure. */
int jp_msg_add_buffer(struct jp_msg *m, const void *data, size_t len);

/* Release an array of frames and their data (all allocated with jp_malloc, as every frame
 * array proto/ returns is). NULL-safe. */
void jp_frames_free(struct jp_frame *v, size_t n);

#endif
