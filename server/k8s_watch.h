/*
 * k8s_watch.h - push parser for a Kubernetes watch stream: newline-delimited JSON
 * {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}} arriving in chunks of any
 * size (as curl's write callback delivers them). Lines may end in LF or CRLF; blank lines are
 * skipped. A line that is not a JSON object with a string "type" and an object "object" is
 * counted as malformed and skipped; a line longer than max_line is dropped without being
 * buffered (the parser resyncs at the next newline) and counted as oversized. Never fails on
 * input, only on out-of-memory. No network, no libuv: the caller owns the connection and
 * decides what to do on ERROR / 410 (re-list) and on a silent or closed stream (re-watch from
 * k8s_watch_last_rv).
 */
#ifndef K8S_WATCH_H
#define K8S_WATCH_H

#include <stddef.h>

#include <jansson.h>

struct k8s_watch_parser;

/* Called once per event, in stream order, from inside k8s_watch_feed/k8s_watch_end. type is
 * the event's "type" string (any value is passed through, "ERROR" included, whose object is
 * the Status); object is borrowed for the duration of the call (json_incref to keep it). The
 * callback must not call k8s_watch_feed/end/free on the same parser. */
typedef void (*k8s_watch_event_fn)(void *ctx, const char *type, json_t *object);

/* max_line: longest accepted line in bytes, 0 for 16 MiB. NULL on out-of-memory or a NULL
 * callback. */
struct k8s_watch_parser *k8s_watch_new(size_t max_line, k8s_watch_event_fn on_event, void *ctx);
/* Feed len bytes. Returns the number of events delivered by this call, or JP_ENOMEM (the
 * parser then drops the partial line and stays usable). */
int k8s_watch_feed(struct k8s_watch_parser *p, const char *data, size_t len);
/* End of stream: a last line without its newline is parsed as if terminated. Returns the
 * number of events delivered (0 or 1). The parser is ready for a new stream afterwards. */
int k8s_watch_end(struct k8s_watch_parser *p);
/* Forget any partial line and clear the gone flag, keeping last_rv and the counters (call it
 * before feeding a new connection's stream). */
void k8s_watch_reset(struct k8s_watch_parser *p);
void k8s_watch_free(struct k8s_watch_parser *p);

/* metadata.resourceVersion of the last event's object that had one (BOOKMARK included, ERROR
 * Status objects excluded), or the value given to k8s_watch_set_rv; NULL when none. Borrowed,
 * valid until the next feed/end/set_rv. */
const char *k8s_watch_last_rv(const struct k8s_watch_parser *p);
/* Seed the resume point (the list's metadata.resourceVersion); NULL clears it. 0 or
 * JP_ENOMEM. */
int k8s_watch_set_rv(struct k8s_watch_parser *p, const char *rv);
/* 1 once an ERROR event whose Status has code 410 (Gone / Expired) was seen since new/reset:
 * the caller must re-list. */
int k8s_watch_gone(const struct k8s_watch_parser *p);
/* Counters since new (not cleared by reset). */
size_t k8s_watch_events(const struct k8s_watch_parser *p);
size_t k8s_watch_malformed(const struct k8s_watch_parser *p);
size_t k8s_watch_oversized(const struct k8s_watch_parser *p);

#endif
