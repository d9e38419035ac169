/*
 * ck_rt.h - what the files of the executor's runtime share among themselves: publishing a
 * display with several MIME types (cnote_rt.c builds the message; cnote_plot.c and the rich
 * displays use it). Cells never see these names: they are not in cnote.h.
 */
#ifndef CK_RT_H
#define CK_RT_H

#include <stddef.h>

/* One entry of a MIME bundle. Text types (text/..., image/svg+xml) are sent as strings,
 * JSON types (application/json, ...+json) verbatim, anything else base64-encoded. */
struct ck_mime_part {
    const char *mime;
    const void *data;
    size_t len;
};

/* Publish one message of type msg_type ("display_data" or "update_display_data") whose data
 * holds the n parts, with transient display_id `id` unless it is NULL, and wait until the
 * front has published it (so it stays in order with stdout). The caller keeps ownership of
 * everything. 0, or -1 on bad arguments (n < 1, a NULL mime, NULL data with len > 0), out of
 * memory or a failed send. */
int ck_rt_publish(const char *msg_type, const char *id, const struct ck_mime_part *parts, int n);

#endif
